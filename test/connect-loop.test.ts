/** src/consumer/connect-loop.ts: start-up retries with back-off until connected or aborted. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { backoffMs, connectWithRetry } from '../src/consumer/connect-loop.ts'
import { memoryLog } from './support/memory-log.ts'

describe('connect loop', () => {
  it('the connect loop: one warn line per failed attempt with its back-off, continued from earlier crashes; stops when aborted', async () => {
    const { log, lines } = memoryLog()
    let calls = 0
    const ok = await connectWithRetry({
      log,
      signal: new AbortController().signal,
      backoffFrom: 1,
      cleanup: async () => {},
      attempt: async () => {
        if (++calls < 3) throw new Error(`refused ${calls}`)
      },
    })
    assert.equal(ok, true)
    const warns = lines.filter((l) => l.msg === 'cannot start the consumer; retrying')
    assert.deepEqual(warns.map((l) => l.attempt), [1, 2])
    assert.deepEqual(warns.map((l) => l.error), ['Error: refused 1', 'Error: refused 2'])
    // backoffFrom 1: the delays of attempts 2 and 3 (1 s and 2 s, jittered +-20%).
    assert.ok(Number(warns[0]!.retryInMs) >= 800 && Number(warns[0]!.retryInMs) <= 1200, String(warns[0]!.retryInMs))
    assert.ok(Number(warns[1]!.retryInMs) >= 1600 && Number(warns[1]!.retryInMs) <= 2400, String(warns[1]!.retryInMs))

    const stop = new AbortController()
    const aborted = connectWithRetry({ log, signal: stop.signal, cleanup: async () => {}, attempt: async () => { throw new Error('down') } })
    stop.abort()
    assert.equal(await aborted, false)
  })

  it('backoffMs doubles from 0.5 s to at most 30 s, jittered +-20%', () => {
    assert.equal(backoffMs(1, 0.5), 500)
    assert.equal(backoffMs(2, 0.5), 1000)
    assert.equal(backoffMs(20, 0.5), 30_000)
    assert.equal(backoffMs(1, 0), 400)
    assert.equal(backoffMs(1, 1), 600)
  })
})
