/** src/message/process.ts: one message through decode, the handler, its timeout and the shutdown deadline, counted. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { KafkaMessage } from 'kafkajs'
import { processMessage } from '../src/message/process.ts'
import { sumMetric } from '../harness/service-process.ts'
import { processDeps } from './support/process-deps.ts'

function msg(value: Buffer | null, offset = '7'): KafkaMessage {
  return { key: Buffer.from('k'), value, offset, timestamp: '0', attributes: 0, headers: {} }
}

const deps = processDeps

describe('processMessage', () => {
  it('counts ok and hands the decoded value to the handler', async () => {
    let seen: unknown
    const { d, text } = deps((m) => {
      seen = m.value
    })
    assert.equal(await processMessage('t', 0, msg(Buffer.from('{"x":2}')), d), 'ok')
    assert.deepEqual(seen, { x: 2 })
    assert.equal(sumMetric(await text(), 'consumer_messages_processed_total', { status: 'ok' }), 1)
  })

  it('skips and counts an undecodable value without calling the handler', async () => {
    let called = false
    const { d, lines, text } = deps(() => {
      called = true
    })
    assert.equal(await processMessage('t', 0, msg(Buffer.from('not json')), d), 'skipped')
    assert.equal(called, false)
    const t = await text()
    assert.equal(sumMetric(t, 'consumer_messages_skipped_total', { reason: 'undecodable' }), 1)
    assert.equal(sumMetric(t, 'consumer_messages_lost_total', { reason: 'undecodable' }), 1)
    const line = lines.find((l) => l.msg === 'undecodable message skipped')
    assert.ok(line, 'a warn line is logged')
    assert.equal(line.offset, '7')
    assert.equal(line.topic, 't')
  })

  it('counts a throwing handler (sync or async) as failed and never throws', async () => {
    for (const handler of [
      () => {
        throw new Error('boom')
      },
      async () => {
        throw new Error('boom')
      },
    ]) {
      const { d, lines, text } = deps(handler)
      assert.equal(await processMessage('t', 0, msg(Buffer.from('1')), d), 'failed')
      const t = await text()
      assert.equal(sumMetric(t, 'consumer_messages_processed_total', { status: 'failed' }), 1)
      assert.equal(sumMetric(t, 'consumer_messages_lost_total', { reason: 'handler_failed' }), 1)
      assert.ok(lines.some((l) => l.level === 40 && l.error === 'boom' && l.offset === '7'))
    }
  })

  it('abandons a handler past HANDLER_TIMEOUT_MS and aborts its signal', async () => {
    let aborted = false
    const { d, text } = deps(
      (_m, ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener('abort', () => (aborted = true))
        }),
      { handlerTimeoutMs: 50 },
    )
    assert.equal(await processMessage('t', 0, msg(Buffer.from('1')), d), 'failed')
    assert.equal(aborted, true)
    assert.equal(sumMetric(await text(), 'consumer_messages_lost_total', { reason: 'handler_timeout' }), 1)
  })

  it('abandons a hanging handler at the shutdown deadline', async () => {
    const deadline = new AbortController()
    let aborted = false
    const { d, text } = deps(
      (_m, ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener('abort', () => (aborted = true))
        }),
      { deadline: deadline.signal },
    )
    const p = processMessage('t', 0, msg(Buffer.from('1')), d)
    setTimeout(() => deadline.abort(new Error('deadline')), 30)
    assert.equal(await p, 'abandoned')
    assert.equal(aborted, true)
    assert.equal(sumMetric(await text(), 'consumer_messages_lost_total', { reason: 'shutdown' }), 1)
  })

  it('passes tombstones (null values) to the handler as null', async () => {
    let seen: unknown = 'unset'
    const { d } = deps((m) => {
      seen = m.value
    })
    assert.equal(await processMessage('t', 0, msg(null), d), 'ok')
    assert.equal(seen, null)
  })
})
