/**
 * src/consumer/committer.ts without a broker: PartitionCommitter (one commit in flight, retries,
 * the acknowledged position, coalesced async requests, auto-mode bookkeeping, the final flush)
 * driven with stand-in commit functions, and isRebalanceError (which commit errors mean "rejoin").
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { COMMIT_MODE_BEHAVIOUR } from '../src/consumer/commit-modes.ts'
import { isRebalanceError, PartitionCommitter, type CommitFn } from '../src/consumer/committer.ts'
import { createMetrics, PartitionMetrics } from '../src/metrics.ts'
import { sumMetric } from '../harness/service-process.ts'
import { memoryLog } from './support/memory-log.ts'

/** A kafkajs-shaped error: `type` and `retriable` are what the committer reads. */
function kafkaError(type: string, retriable: boolean): Error {
  return Object.assign(new Error(`${type} (stand-in)`), { type, retriable })
}

function setup(mode: 'sync' | 'async' | 'auto' = 'sync') {
  const registry = new Registry()
  const m = createMetrics(registry, { defaultMetrics: false, commitMode: mode })
  const pm = new PartitionMetrics(m, 't', 3)
  const { log, lines } = memoryLog()
  const committer = new PartitionCommitter('t', 3, m, pm, log, COMMIT_MODE_BEHAVIOUR[mode])
  const scrape = () => registry.metrics()
  const committed = async () => sumMetric(await scrape(), 'consumer_messages_committed_total', { topic: 't', partition: '3' })
  const errors = async (error: string) => sumMetric(await scrape(), 'consumer_commit_errors_total', { mode, error })
  return { committer, lines, scrape, committed, errors }
}

/** A commit function whose calls wait until released, one by one, in order. */
function manualCommits() {
  const sent: number[] = []
  const pending: Array<{ resolve: () => void; reject: (err: unknown) => void }> = []
  const fn: CommitFn = (offset) =>
    new Promise<void>((resolve, reject) => {
      sent.push(offset)
      pending.push({ resolve, reject })
    })
  const turn = () => new Promise((r) => setImmediate(r))
  return {
    fn,
    sent,
    async ack() {
      pending.shift()!.resolve()
      await turn()
    },
    async fail(err: unknown) {
      pending.shift()!.reject(err)
      await turn()
    },
  }
}

describe('isRebalanceError', () => {
  it('is true for the errors that make the member rejoin, false for everything else', () => {
    for (const type of ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']) assert.equal(isRebalanceError(kafkaError(type, true)), true, type)
    // The coordinator moved: a retry, not a rejoin.
    for (const type of ['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'REQUEST_TIMED_OUT', 'OFFSET_METADATA_TOO_LARGE']) {
      assert.equal(isRebalanceError(kafkaError(type, true)), false, type)
    }
    for (const notAnError of [undefined, null, 'REBALANCE_IN_PROGRESS', 27, new Error('REBALANCE_IN_PROGRESS'), { type: undefined }]) {
      assert.equal(isRebalanceError(notAnError), false, String(notAnError))
    }
  })
})

describe('PartitionCommitter', () => {
  it('an acknowledged commit moves the position, counts the messages it covers and its latency', async () => {
    const { committer, committed, scrape } = setup()
    assert.equal(committer.acked, -1)
    assert.equal(await committer.commit(10, 4, async () => {}), true)
    assert.equal(committer.acked, 10)
    assert.equal(committer.lastError, undefined)
    assert.equal(await committed(), 4)
    assert.equal(sumMetric(await scrape(), 'consumer_commit_duration_seconds_count', { mode: 'sync' }), 1)
    assert.ok(committer.rttMs > 0, 'the round trip is measured')
  })

  it('one commit in flight at a time; the acknowledged position never moves backwards', async () => {
    const { committer } = setup()
    const c = manualCommits()
    const first = committer.commit(10, 1, c.fn)
    assert.equal(committer.busy, true)
    assert.throws(() => committer.commit(11, 1, c.fn), /already in flight/)
    await c.ack()
    assert.equal(await first, true)
    assert.equal(committer.busy, false)
    assert.equal(await committer.commit(5, 1, async () => {}), true)
    assert.equal(committer.acked, 10, 'an older acknowledgement does not move the position back')
  })

  it('retries a retriable error twice, each attempt counted by type; success clears the error', async () => {
    const { committer, errors, committed } = setup()
    let attempts = 0
    const ok = await committer.commit(8, 2, async () => {
      if (++attempts < 3) throw kafkaError('REQUEST_TIMED_OUT', true)
    })
    assert.equal(ok, true)
    assert.equal(attempts, 3)
    assert.equal(await errors('REQUEST_TIMED_OUT'), 2)
    assert.equal(committer.lastError, undefined)
    assert.equal(await committed(), 2)
  })

  it('gives up after the retries: false, nothing counted as committed, the error kept and logged', async () => {
    const { committer, errors, committed, lines } = setup()
    let attempts = 0
    const err = kafkaError('NOT_COORDINATOR_FOR_GROUP', true)
    const ok = await committer.commit(8, 2, async () => {
      attempts++
      throw err
    })
    assert.equal(ok, false)
    assert.equal(attempts, 3)
    assert.equal(await errors('NOT_COORDINATOR_FOR_GROUP'), 3)
    assert.equal(committer.lastError, err)
    assert.equal(committer.acked, -1)
    assert.equal(await committed(), 0)
    assert.ok(lines.some((l) => l.level === 40 && l.errorType === 'NOT_COORDINATOR_FOR_GROUP' && l.offset === 8 && l.partition === 3), 'one warn line')
    assert.equal(await committer.settle(), false, 'settle() reports the failure')
  })

  it('a rebalance error or a non-retriable one is not retried; an error without a type is counted by its name', async () => {
    for (const err of [kafkaError('REBALANCE_IN_PROGRESS', true), kafkaError('OFFSET_METADATA_TOO_LARGE', false)]) {
      const { committer, errors } = setup()
      let attempts = 0
      const ok = await committer.commit(8, 1, async () => {
        attempts++
        throw err
      })
      assert.equal(ok, false)
      assert.equal(attempts, 1, (err as { type?: string }).type)
      assert.equal(await errors(String((err as { type?: string }).type)), 1)
    }
    const { committer, errors } = setup()
    await committer.commit(8, 1, async () => {
      throw new TypeError('socket gone')
    })
    assert.equal(await errors('TypeError'), 1)
  })

  it('async: requests coalesce behind the commit in flight, and the newest position is sent next', async () => {
    const { committer, committed } = setup('async')
    const c = manualCommits()
    committer.request(1, c.fn)
    committer.request(2, c.fn)
    committer.request(3, c.fn)
    assert.deepEqual(c.sent, [1])
    await c.ack()
    assert.deepEqual(c.sent, [1, 3], 'one more commit, of the newest position')
    await c.ack()
    assert.equal(committer.acked, 3)
    assert.equal(await committed(), 3, 'each request counted once')
    assert.equal(committer.pending, undefined)
  })

  it('async: a failed commit keeps its messages pending; the next request commits them too', async () => {
    const { committer, committed } = setup('async')
    const c = manualCommits()
    committer.request(1, c.fn)
    await c.fail(kafkaError('OFFSET_METADATA_TOO_LARGE', false))
    assert.equal(committer.pending, 1)
    committer.request(2, c.fn)
    assert.deepEqual(c.sent, [1, 2])
    await c.ack()
    assert.equal(await committed(), 2)
  })

  it('auto: kafkajs commits; processed messages are counted as committed when it reports a newer position', async () => {
    const { committer, committed } = setup('auto')
    committer.noteProcessed(1)
    committer.noteProcessed(2)
    assert.equal(committer.pending, 2)
    committer.noteCommitted(2)
    assert.equal(committer.acked, 2)
    assert.equal(await committed(), 2)
    committer.noteCommitted(1)
    assert.equal(committer.acked, 2, 'an older report changes nothing')
    assert.equal(committer.pending, undefined)
  })

  it('flush while a commit is in flight and a newer position waits: the acknowledgement sends the newer one, flush waits for it (no second commit in flight)', async () => {
    const { committer } = setup('async')
    const c = manualCommits()
    committer.request(1, c.fn)
    committer.request(2, c.fn)
    const flushed = committer.flush(c.fn)
    await c.ack() // 1 acknowledged: the pump sends 2 at once
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(c.sent, [1, 2])
    await c.ack()
    assert.equal(await flushed, true)
    assert.equal(committer.acked, 2)
    assert.deepEqual(c.sent, [1, 2], 'nothing sent twice')
  })

  it('flush: waits for the commit in flight, then commits what is still pending; on failure it stays pending', async () => {
    const { committer, committed } = setup('async')
    const c = manualCommits()
    committer.request(1, c.fn)
    const flushed = committer.flush(c.fn)
    await c.ack()
    assert.equal(await flushed, true)
    assert.deepEqual(c.sent, [1], 'the commit in flight covered everything')
    assert.equal(await committed(), 1)
    assert.equal(await committer.flush(c.fn), true, 'nothing pending: nothing sent')
    assert.deepEqual(c.sent, [1])

    committer.noteProcessed(3)
    assert.equal(await committer.flush(async () => Promise.reject(kafkaError('OFFSET_METADATA_TOO_LARGE', false))), false)
    assert.equal(committer.pending, 3, 'still pending after a failed flush')
    assert.equal(await committer.flush(async () => {}), true)
    assert.equal(committer.acked, 3)
    assert.equal(await committed(), 2, 'noteProcessed adds to the next commit: 1 + 1')
  })
})
