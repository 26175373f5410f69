/**
 * src/consumer/ungated-commits.ts without a broker: the commits of COMMIT_MODE=async (coalesced
 * requests, one in flight) and auto (kafkajs's own commits observed), and the final flush, on a real
 * PartitionCommitter with a stand-in transport.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { kafkaError, manualCommits, setup } from './support/committer-setup.ts'

describe('UngatedCommits', () => {
  it('async: requests coalesce behind the commit in flight, and the newest position is sent next', async () => {
    const { committer, ungated, transport, committed } = setup('async')
    const c = manualCommits()
    transport.fn = c.fn
    ungated.want(1)
    ungated.want(2)
    ungated.want(3)
    assert.deepEqual(c.sent, [1])
    await c.ack()
    assert.deepEqual(c.sent, [1, 3], 'one more commit, of the newest position')
    await c.ack()
    assert.equal(committer.acked, 3)
    assert.equal(await committed(), 3, 'each request counted once')
    assert.equal(ungated.pending, undefined)
  })

  it('async: a failed commit keeps its messages pending; the next request commits them too', async () => {
    const { ungated, transport, committed } = setup('async')
    const c = manualCommits()
    transport.fn = c.fn
    ungated.want(1)
    await c.fail(kafkaError('OFFSET_METADATA_TOO_LARGE', false))
    assert.equal(ungated.pending, 1)
    ungated.want(2)
    assert.deepEqual(c.sent, [1, 2])
    await c.ack()
    assert.equal(await committed(), 2)
  })

  it('auto: kafkajs commits; processed messages are counted as committed when it reports a newer position', async () => {
    const { committer, ungated, committed } = setup('auto')
    ungated.processed(1)
    ungated.processed(2)
    assert.equal(ungated.pending, 2)
    ungated.kafkajsCommitted(2)
    assert.equal(committer.acked, 2)
    assert.equal(await committed(), 2)
    ungated.kafkajsCommitted(1)
    assert.equal(committer.acked, 2, 'an older report changes nothing')
    assert.equal(ungated.pending, undefined)
  })

  it('flush while a commit is in flight and a newer position waits: the acknowledgement sends the newer one, flush waits for it (no second commit in flight)', async () => {
    const { committer, ungated, transport } = setup('async')
    const c = manualCommits()
    transport.fn = c.fn
    ungated.want(1)
    ungated.want(2)
    const flushed = ungated.flush()
    await c.ack() // 1 acknowledged: the pump sends 2 at once
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(c.sent, [1, 2])
    await c.ack()
    assert.equal(await flushed, true)
    assert.equal(committer.acked, 2)
    assert.deepEqual(c.sent, [1, 2], 'nothing sent twice')
  })

  it('flush: waits for the commit in flight, then commits what is still pending; on failure it stays pending', async () => {
    const { committer, ungated, transport, committed } = setup('async')
    const c = manualCommits()
    transport.fn = c.fn
    ungated.want(1)
    const flushed = ungated.flush()
    await c.ack()
    assert.equal(await flushed, true)
    assert.deepEqual(c.sent, [1], 'the commit in flight covered everything')
    assert.equal(await committed(), 1)
    assert.equal(await ungated.flush(), true, 'nothing pending: nothing sent')
    assert.deepEqual(c.sent, [1])

    ungated.processed(3)
    transport.fn = async () => Promise.reject(kafkaError('OFFSET_METADATA_TOO_LARGE', false))
    assert.equal(await ungated.flush(), false)
    assert.equal(ungated.pending, 3, 'still pending after a failed flush')
    transport.fn = async () => undefined
    assert.equal(await ungated.flush(), true)
    assert.equal(committer.acked, 3)
    assert.equal(await committed(), 2, 'processed() adds to the next commit: 1 + 1')
  })
})
