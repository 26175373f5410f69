/** src/consumer/shutdown.ts: the SIGTERM sequence and giving up a pending join, on stand-in parts. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { abandonJoin, shutdownSequence, type ShutdownParts } from '../src/consumer/shutdown.ts'
import { ErrorCode } from '../src/errors.ts'
import { memoryLog } from './support/memory-log.ts'

describe('shutdown', () => {
  const silent = () => memoryLog().log

  const parts = (over: Partial<ShutdownParts> = {}): ShutdownParts => ({
    timeoutMs: 200,
    log: silent(),
    deadline: new AbortController(),
    stopFetching: () => {},
    inFlight: () => [],
    finalCommit: async () => true,
    leaveGroup: async () => {},
    closeOthers: async () => {},
    abandoned: () => 0,
    ...over,
  })

  it('shutdown is clean when nothing committed was left, even if leaving the group outlives the deadline', async () => {
    const r = await shutdownSequence(parts({ leaveGroup: () => new Promise<void>(() => {}) }))
    assert.equal(r.clean, true)
    assert.equal(r.abandoned, 0)
  })

  it('shutdown is not clean when a committed message was abandoned or a batch never settled; a failed final commit leaves nothing committed unprocessed', async () => {
    const abandoned = await shutdownSequence(parts({ abandoned: () => 2 }))
    assert.equal(abandoned.clean, false)
    assert.equal((abandoned.error as { code?: string }).code, ErrorCode.SHUTDOWN_TIMEOUT)
    const stuck = await shutdownSequence(parts({ inFlight: () => [new Promise(() => {})] }))
    assert.equal(stuck.clean, false)
    assert.equal((stuck.error as { code?: string }).code, ErrorCode.SHUTDOWN_TIMEOUT)
    const commit = await shutdownSequence(parts({ finalCommit: async () => false }))
    assert.equal(commit.clean, true, 'exit 0: nothing committed was left unprocessed')
  })

  it('a pending join is given up: connections closed first, a disconnect that hangs is not waited for, clean', async () => {
    const { log, lines } = memoryLog()
    let aborts = 0
    const r = await abandonJoin({ log, state: 'joining', abortConnections: () => aborts++, disconnect: () => new Promise<void>(() => {}) })
    assert.equal(r.clean, true)
    assert.equal(aborts, 2, 'closed before the disconnect, and again after it did not finish')
    assert.ok(lines.some((l) => /giving up the join/.test(String(l.msg))), 'the log says so')
    assert.deepEqual(lines.filter((l) => /^(final commit|left the consumer group)/.test(String(l.msg))), [], 'no final commit, no leave')
  })
})
