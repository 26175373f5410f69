/** src/message/decode.ts: VALUE_FORMAT decoders. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createDecoder } from '../src/message/decode.ts'
import { DecodeError, ErrorCode } from '../src/errors.ts'

describe('decode', () => {
  it('json parses, text decodes, binary passes bytes, null stays null', () => {
    assert.deepEqual(createDecoder('json')(Buffer.from('{"a":1}')), { a: 1 })
    assert.equal(createDecoder('text')(Buffer.from('héllo')), 'héllo')
    const b = Buffer.from([0xff, 0x00])
    assert.equal(createDecoder('binary')(b), b)
    for (const f of ['json', 'text', 'binary'] as const) assert.equal(createDecoder(f)(null), null)
  })
  it('malformed JSON and invalid UTF-8 throw DecodeError with a stable code', () => {
    assert.throws(() => createDecoder('json')(Buffer.from('{nope')), (e: unknown) => e instanceof DecodeError && e.code === ErrorCode.DECODE_FAILED)
    assert.throws(() => createDecoder('text')(Buffer.from([0xc3, 0x28])), /not valid UTF-8/)
  })
})
