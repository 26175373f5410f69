/** src/consumer/shutdown.ts: the SIGTERM sequence and giving up a pending join, on stand-in parts. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { abandonJoin, shutdownSequence, type ShutdownParts } from '../src/consumer/shutdown.ts'
import { ErrorCode } from '../src/errors.ts'
import { memoryLog } from './support/memory-log.ts'

describe('shutdown', () => {
  const parts = (over: Partial<ShutdownParts> = {}): ShutdownParts => ({
    timeoutMs: 200,
    log: memoryLog().log,
    deadline: new AbortController(),
    stopFetching: () => {},
    inFlight: () => [],
    countHeld: () => {},
    finalCommit: async () => true,
    closeClients: async () => ({ left: true }),
    abandoned: () => 0,
    ...over,
  })

  it('runs the steps in order: stop fetching, drain, final commit, close the clients (leave first)', async () => {
    const steps: string[] = []
    let release: () => void = () => undefined
    const batch = new Promise<void>((r) => (release = r))
    const done = shutdownSequence(
      parts({
        stopFetching: () => void steps.push('stop'),
        inFlight: () => [batch.then(() => void steps.push('drained'))],
        countHeld: () => void steps.push('held counted'),
        finalCommit: async () => (steps.push('final commit'), true),
        closeClients: async (leaveMs, othersMs) => {
          steps.push(`close ${leaveMs > 0} ${othersMs > 0}`)
          return { left: true }
        },
      }),
    )
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(steps, ['stop'], 'nothing after stop while a batch is in flight')
    release()
    const r = await done
    assert.deepEqual(steps, ['stop', 'drained', 'held counted', 'final commit', 'close true true'])
    assert.equal(r.clean, true)
  })

  it('shutdown is clean when nothing committed was left, even if leaving the group outlives the deadline (logged)', async () => {
    const { log, lines } = memoryLog()
    const r = await shutdownSequence(parts({ log, closeClients: async () => ({ left: false }) }))
    assert.equal(r.clean, true)
    assert.equal(r.abandoned, 0)
    assert.ok(lines.some((l) => l.msg === 'leaving the group did not finish in time'))
    assert.ok(!lines.some((l) => l.msg === 'left the consumer group'))
  })

  it('shutdown is not clean when a committed message was abandoned or a batch never settled; a failed final commit leaves nothing committed unprocessed', async () => {
    const abandoned = await shutdownSequence(parts({ abandoned: () => 2 }))
    assert.equal(abandoned.clean, false)
    assert.equal(abandoned.abandoned, 2)
    assert.equal((abandoned.error as { code?: string }).code, ErrorCode.SHUTDOWN_UNPROCESSED, 'left unprocessed before the deadline (held by the breaker): not a timeout')
    const late = new AbortController()
    const timedOut = await shutdownSequence(parts({ deadline: late, abandoned: () => 1, inFlight: () => [new Promise((r) => setTimeout(r, 400))] }))
    assert.equal(timedOut.clean, false)
    assert.equal((timedOut.error as { code?: string }).code, ErrorCode.SHUTDOWN_TIMEOUT, 'past the deadline')
    const deadline = new AbortController()
    const stuck = await shutdownSequence(parts({ deadline, inFlight: () => [new Promise(() => {})] }))
    assert.equal(stuck.clean, false)
    assert.equal(deadline.signal.aborted, true, 'the handlers were told at the deadline')
    assert.equal((stuck.error as { code?: string }).code, ErrorCode.SHUTDOWN_TIMEOUT)
    const commit = await shutdownSequence(parts({ finalCommit: async () => false }))
    assert.equal(commit.clean, true, 'exit 0: nothing committed was left unprocessed')
  })

  it('a pending join is given up: connections closed before the clients, and again when closing did not finish in time', async () => {
    const { log, lines } = memoryLog()
    const order: string[] = []
    const r = await abandonJoin({
      log,
      state: 'joining',
      abortConnections: () => void order.push('abort'),
      closeClients: async (leaveMs) => {
        order.push(`close within ${leaveMs} ms`)
        return { left: false } // the disconnect hung past its bound
      },
    })
    assert.deepEqual(order, ['abort', 'close within 1000 ms', 'abort'])
    assert.equal(r.abandoned, 0)
    assert.ok(lines.some((l) => /giving up the join/.test(String(l.msg))), 'the log says so')
    const closedInTime: string[] = []
    await abandonJoin({ log, state: 'joining', abortConnections: () => void closedInTime.push('abort'), closeClients: async () => ({ left: true }) })
    assert.deepEqual(closedInTime, ['abort'], 'closed in time: nothing to abort again')
  })
})
