/** src/message/handler.ts: the built-in handlers and HANDLER module loading. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadHandler, logHandler } from '../src/message/handler.ts'
import { ConfigError, ErrorCode, HandlerLoadError } from '../src/errors.ts'
import { memoryLog } from './support/memory-log.ts'

describe('handlers', () => {
  it('log handler writes a "consumed" line with topic, partition, offset and value', () => {
    const { log, lines } = memoryLog()
    logHandler({ topic: 'weather', partition: 2, offset: '41', key: Buffer.from('Oslo'), value: { t: 3 }, headers: {}, timestamp: '0' }, { log, signal: new AbortController().signal })
    assert.deepEqual(
      { msg: lines[0]!.msg, topic: lines[0]!.topic, partition: lines[0]!.partition, offset: lines[0]!.offset, key: lines[0]!.key, value: lines[0]!.value },
      { msg: 'consumed', topic: 'weather', partition: 2, offset: '41', key: 'Oslo', value: { t: 3 } },
    )
  })
  it('loadHandler resolves log, noop and a module path; rejects bad paths with a HANDLER message', async () => {
    assert.equal((await loadHandler('log')).handler, logHandler)
    assert.equal(typeof (await loadHandler('noop')).handler, 'function')
    assert.equal((await loadHandler('noop')).probe, undefined)
    assert.equal(typeof (await loadHandler('test/fixtures/core-hang.mjs')).handler, 'function')
    await assert.rejects(loadHandler('test/fixtures/missing.mjs'), (e: unknown) => e instanceof HandlerLoadError && e.code === ErrorCode.HANDLER_NOT_FOUND && /HANDLER=/.test(e.message))
    await assert.rejects(loadHandler('test/fixtures/core-not-a-function.mjs'), (e: unknown) => e instanceof HandlerLoadError && e.code === ErrorCode.HANDLER_INVALID)
  })
  it('loadHandler finds the probe export (ESM named export, or CommonJS module.exports = { handler, probe })', async () => {
    for (const f of ['test/fixtures/probed-handler.mjs', 'test/fixtures/probed-handler.cjs']) {
      const m = await loadHandler(f)
      assert.equal(typeof m.handler, 'function', f)
      assert.equal(typeof m.probe, 'function', f)
    }
    assert.equal((await loadHandler('test/fixtures/core-hang.mjs')).probe, undefined)
  })
  it('a module that refuses its own configuration at load names its variable, not HANDLER', async () => {
    await assert.rejects(
      loadHandler('test/fixtures/handler-config-error.mjs'),
      (e: unknown) => e instanceof ConfigError && e.variable === 'WEBHOOK_URL' && /WEBHOOK_URL is required/.test(e.message),
    )
  })
})
