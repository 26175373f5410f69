/**
 * src/consumer/committer.ts without a broker: PartitionCommitter (one commit in flight, retries,
 * the acknowledged position and its one writer, the events it reports) driven with stand-in
 * transports. The ungated modes' bookkeeping on top of it: ungated-commits.test.ts; which commit
 * errors mean what: commit-errors.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sumMetric } from '../harness/service-process.ts'
import { kafkaError, manualCommits, setup } from './support/committer-setup.ts'

describe('PartitionCommitter', () => {
  it('an acknowledged commit moves the position, counts the messages it covers and its latency', async () => {
    const { committer, committed, scrape, commitWith, events } = setup()
    assert.equal(committer.acked, -1)
    assert.equal(await commitWith(10, 4, async () => {}), true)
    assert.equal(committer.acked, 10)
    assert.equal(committer.lastError, undefined)
    assert.equal(await committed(), 4)
    assert.equal(sumMetric(await scrape(), 'consumer_commit_duration_seconds_count', { mode: 'sync' }), 1)
    assert.ok(committer.rttMs > 0, 'the round trip is measured')
    assert.deepEqual(events.acknowledged, [10], 'the acknowledgement is reported')
  })

  it('one commit in flight at a time; the acknowledged position never moves backwards', async () => {
    const { committer, commitWith } = setup()
    const c = manualCommits()
    const first = commitWith(10, 1, c.fn)
    assert.equal(committer.busy, true)
    assert.throws(() => committer.commit(11, 1), /already in flight/)
    await c.ack()
    assert.equal(await first, true)
    assert.equal(committer.busy, false)
    assert.equal(await commitWith(5, 1, async () => {}), true)
    assert.equal(committer.acked, 10, 'an older acknowledgement does not move the position back')
  })

  it('retries a retriable error twice, each attempt counted by type; success clears the error', async () => {
    const { committer, errors, committed, commitWith } = setup()
    let attempts = 0
    const ok = await commitWith(8, 2, async () => {
      if (++attempts < 3) throw kafkaError('REQUEST_TIMED_OUT', true)
    })
    assert.equal(ok, true)
    assert.equal(attempts, 3)
    assert.equal(await errors('REQUEST_TIMED_OUT'), 2)
    assert.equal(committer.lastError, undefined)
    assert.equal(await committed(), 2)
  })

  it('gives up after the retries: false, nothing counted as committed, the error kept and logged', async () => {
    const { committer, errors, committed, lines, commitWith, events } = setup()
    let attempts = 0
    const err = kafkaError('NOT_COORDINATOR_FOR_GROUP', true)
    const ok = await commitWith(8, 2, async () => {
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
    assert.deepEqual(events.failed, [{ from: 6, offset: 8, count: 2, inDoubt: 'NOT_COORDINATOR_FOR_GROUP' }], 'reported once, in doubt (sync: the coordinator may have written it)')
  })

  it('a rebalance error or a non-retriable one is not retried; an error without a type is counted by its name', async () => {
    for (const err of [kafkaError('REBALANCE_IN_PROGRESS', true), kafkaError('OFFSET_METADATA_TOO_LARGE', false)]) {
      const { commitWith, errors } = setup()
      let attempts = 0
      const ok = await commitWith(8, 1, async () => {
        attempts++
        throw err
      })
      assert.equal(ok, false)
      assert.equal(attempts, 1, (err as { type?: string }).type)
      assert.equal(await errors(String((err as { type?: string }).type)), 1)
    }
    const { commitWith, errors } = setup()
    await commitWith(8, 1, async () => {
      throw new TypeError('socket gone')
    })
    assert.equal(await errors('TypeError'), 1)
  })
})
