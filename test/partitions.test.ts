/**
 * src/consumer/partitions.ts: the one owner of a partition's state. A state per assigned partition
 * (its metric series from the assignment on, its gauges gone on revocation, its counters kept),
 * one key function, and what the listeners hear: joins, fetches, commits acknowledged or failed.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { COMMIT_MODE_BEHAVIOUR } from '../src/consumer/commit-modes.ts'
import { AtRisk, partitionKey, Partitions, type PartitionListener } from '../src/consumer/partitions.ts'
import { createMetrics } from '../src/metrics.ts'
import { seriesValue } from './support/metric-text.ts'

function setup(answer: () => Promise<void> = async () => undefined) {
  const registry = new Registry()
  const metrics = createMetrics(registry, { defaultMetrics: false, commitMode: 'sync' })
  const partitions = new Partitions({ metrics, transport: { send: () => answer() }, log: pino({ level: 'silent' }), mode: COMMIT_MODE_BEHAVIOUR.sync })
  const heard: string[] = []
  const listener: PartitionListener = {
    joined: (member, assignment) => void heard.push(`joined ${member} ${JSON.stringify(assignment)}`),
    fetched: (p, offset) => void heard.push(`fetched ${p.key} ${offset}`),
    acknowledged: (p, offset) => void heard.push(`acknowledged ${p.key} ${offset}`),
    commitFailed: (p, f) => void heard.push(`failed ${p.key} ${f.offset} ${f.inDoubt ?? '-'}`),
  }
  partitions.listen(listener)
  return { registry, partitions, heard, text: () => registry.metrics() }
}

describe('Partitions', () => {
  it('one key function for every map', () => {
    assert.equal(partitionKey('orders', 3), 'orders|3')
    const { partitions } = setup()
    assert.equal(partitions.get('orders', 3).key, 'orders|3')
    assert.equal(partitions.get('orders', 3), partitions.get('orders', 3), 'one state per partition')
  })
  it('a join keeps a state per assigned partition, series at 0 from then on; a revoked partition loses its gauges, keeps its counters', async () => {
    const t = setup()
    t.partitions.joined('m1', { orders: [0, 1] })
    assert.deepEqual([...t.partitions.all()].map((p) => p.key), ['orders|0', 'orders|1'])
    const text = await t.text()
    for (const partition of ['0', '1']) {
      assert.equal(seriesValue(text, 'consumer_messages_at_risk', { topic: 'orders', partition }), 0)
      assert.equal(seriesValue(text, 'consumer_messages_committed_total', { topic: 'orders', partition }), 0)
    }
    t.partitions.joined('m1', { orders: [1] })
    assert.equal(t.partitions.find('orders', 0), undefined)
    const after = await t.text()
    assert.equal(seriesValue(after, 'consumer_messages_at_risk', { topic: 'orders', partition: '0' }), undefined, 'the revoked gauge is gone')
    assert.equal(seriesValue(after, 'consumer_messages_committed_total', { topic: 'orders', partition: '0' }), 0, 'its counter stays')
    assert.deepEqual(t.heard, ['joined m1 {"orders":[0,1]}', 'joined m1 {"orders":[1]}'])
  })
  it('tells its listeners of fetches and of each commit acknowledged or failed (in doubt or not)', async () => {
    let fail: unknown
    const t = setup(async () => {
      if (fail) throw fail
    })
    const p = t.partitions.get('orders', 2)
    t.partitions.fetched(p, '17')
    t.partitions.fetched(p, undefined) // an empty batch: nothing
    assert.equal(await p.committer.commit(18, 1), true)
    fail = Object.assign(new Error('x'), { type: 'NOT_COORDINATOR_FOR_GROUP', retriable: false })
    assert.equal(await p.committer.commit(19, 1), false)
    fail = Object.assign(new Error('x'), { type: 'REBALANCE_IN_PROGRESS', retriable: false })
    assert.equal(await p.committer.commit(19, 1), false)
    assert.deepEqual(t.heard, ['fetched orders|2 17', 'acknowledged orders|2 18', 'failed orders|2 19 NOT_COORDINATOR_FOR_GROUP', 'failed orders|2 19 -'])
  })
})

describe('AtRisk', () => {
  it('grows by what a commit covers, shrinks in bulk on flush, and flushes before it grows (never above the window)', () => {
    const values: number[] = []
    let v = 0
    const r = new AtRisk({ set: (x) => void (v = x), inc: (n = 1) => void values.push((v += n)), dec: (n = 1) => void values.push((v -= n)) })
    r.covered(3)
    r.finished()
    r.finished()
    assert.deepEqual(values, [3], 'decrements wait for a flush')
    r.covered(2)
    assert.deepEqual(values, [3, 1, 3], 'flushed before the increment')
    r.finished()
    r.flush()
    r.flush()
    assert.deepEqual(values, [3, 1, 3, 2])
  })
})
