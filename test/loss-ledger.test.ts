/**
 * The loss ledger (src/consumer/loss-ledger/ledger.ts) as the consumer wires it: listening to the
 * partitions' owner (partitions.ts), fed by real committers' failures and acknowledgements, with
 * real metrics on a Registry, a real pino logger, and committed offsets given by a plain function
 * standing in for the group coordinator. No broker (the chaos cases prove it on Apache Kafka). Its
 * decisions alone, on plain values: loss-ledger-judge.test.ts; its store: loss-ledger-ranges.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { COMMIT_MODE_BEHAVIOUR } from '../src/consumer/commit-modes.ts'
import type { GroupView } from '../src/consumer/loss-ledger/judge.ts'
import { LossLedger } from '../src/consumer/loss-ledger/ledger.ts'
import type { ReadCommitted } from '../src/consumer/loss-ledger/read-group.ts'
import { Partitions } from '../src/consumer/partitions.ts'
import { createMetrics } from '../src/metrics.ts'
import { sumMetric } from '../harness/service-process.ts'
import { memoryLog } from './support/memory-log.ts'
import { seriesValue } from './support/metric-text.ts'

/** What the coordinator answers: committed offsets, then the group (default: m1 still a member, a rebalance under way). */
function answer(committed: Array<[number, number]>, members: GroupView['members'] = new Map([['m1', undefined]]), state = 'PreparingRebalance') {
  return { committed: new Map(committed), group: { state, members } }
}

/** What the stand-in coordinator answers to the committers' OffsetCommits (replace per case). */
type Answer = (offset: number) => Promise<void>

function setup(read: ReadCommitted = async () => answer([]), budgetMs = 300, mode: 'sync' | 'async' = 'sync') {
  const registry = new Registry()
  const metrics = createMetrics(registry, { defaultMetrics: false, commitMode: mode })
  const { log, lines } = memoryLog()
  const coordinator = { answer: (async () => undefined) as Answer }
  const partitions = new Partitions({ metrics, transport: { send: (_t, _p, offset) => coordinator.answer(offset) }, log, mode: COMMIT_MODE_BEHAVIOUR[mode] })
  const doubt = new LossLedger({ metrics, log, read, readBudgetMs: budgetMs, retryMs: 20 })
  if (mode === 'sync') partitions.listen(doubt) // as the service wires it: only the sync mode has a ledger
  partitions.joined('m1', { orders: [0, 1, 2, 3, 4, 5] }) // the first generation
  const p = (partition: number) => partitions.get('orders', partition)
  /** The consumer joined a new generation. */
  const join = (memberId: string, assignment: Record<string, number[]>) => partitions.joined(memberId, assignment)
  /** kafkajs handed over a batch of `partition` starting at `offset`. */
  const fetch = (partition: number, offset: string | undefined) => partitions.fetched(p(partition), offset)
  /** A commit of `offset` on `partition`, answered by `how`. */
  const commit = (partition: number, offset: number, count: number, how: Answer = async () => undefined) => {
    coordinator.answer = how
    return p(partition).committer.commit(offset, count)
  }
  const text = () => registry.metrics()
  const lost = async () => sumMetric(await text(), 'consumer_messages_lost_total', { reason: 'commit_written' })
  const inDoubt = async () => sumMetric(await text(), 'consumer_messages_in_doubt_total')
  return { metrics, doubt, lines, log, lost, inDoubt, text, join, fetch, commit, p }
}

const protocolError = (type: string, retriable = true): Error => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable })
const kafkaError = (name: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name, retriable: true, ...extra })

describe('the ledger: resolved by a later commit or the next fetch', () => {
  it('the partition kept, with the same member id, fetched again at or past the range end: written, counted lost once with one warn line naming the offsets', async () => {
    const t = setup()
    assert.equal(seriesValue(await t.text(), 'consumer_messages_lost_total', { reason: 'commit_written' }), 0, 'the series exists from zero')
    assert.equal(seriesValue(await t.text(), 'consumer_messages_in_doubt_total'), 0, 'the series exists from zero')
    t.doubt.record('orders', 3, 19, 21, 2, 'NOT_COORDINATOR_FOR_GROUP')
    assert.equal(t.doubt.outstanding, 1)
    t.join('m1', { orders: [2, 3] }) // rejoined, same member, partition 3 kept
    t.fetch(2, '21') // another partition: nothing
    assert.equal(t.doubt.outstanding, 1)
    t.fetch(3, '21')
    assert.equal(t.doubt.outstanding, 0)
    assert.equal(await t.lost(), 2)
    const warn = t.lines.filter((l) => l.lost === true)
    assert.equal(warn.length, 1)
    assert.equal(warn[0]!.level, 40)
    assert.deepEqual([warn[0]!.topic, warn[0]!.partition, warn[0]!.fromOffset, warn[0]!.toOffset, warn[0]!.reason], ['orders', 3, 19, 20, 'commit_written'])
    t.fetch(3, '30') // resolved already: counted once
    assert.equal(await t.lost(), 2)
  })
  it('a fetch inside or before the range counts nothing; the range is settled when a commit covering it is acknowledged', async () => {
    const t = setup()
    t.doubt.record('orders', 0, 10, 12, 2, 'REQUEST_TIMED_OUT')
    t.fetch(0, '11')
    t.fetch(0, '4')
    assert.equal(t.doubt.outstanding, 1, 'read again, not yet committed again')
    t.doubt.acknowledged(t.p(0), 11) // part of it
    assert.deepEqual(t.doubt.list().map((r) => [r.start, r.end, r.count]), [[11, 12, 1]])
    t.doubt.acknowledged(t.p(0), 12)
    assert.equal(t.doubt.outstanding, 0)
    assert.equal(await t.lost(), 0)
    assert.equal(await t.inDoubt(), 0)
  })
  it('a member removed from the group (new member id) or that lost the partition never counts a fetch as its own loss', async () => {
    const t = setup()
    t.doubt.record('orders', 0, 10, 12, 2, 'NOT_COORDINATOR_FOR_GROUP')
    t.doubt.record('orders', 1, 10, 12, 2, 'NOT_COORDINATOR_FOR_GROUP')
    t.join('m1', { orders: [1] }) // partition 0 given away
    t.join('m2', { orders: [0, 1] }) // removed and rejoined: another member may have owned both
    t.fetch(0, '40')
    t.fetch(1, '40')
    assert.equal(await t.lost(), 0)
    assert.equal(t.doubt.outstanding, 2, 'left to a read')
  })
  it('an empty fetch resolves nothing; overlapping ranges of a partition merge (never counted twice)', async () => {
    const t = setup()
    t.fetch(0, undefined)
    t.doubt.record('orders', 0, 10, 12, 2, 'REQUEST_TIMED_OUT')
    t.doubt.record('orders', 0, 11, 13, 2, 'NOT_COORDINATOR_FOR_GROUP')
    t.join('m1', { orders: [0] })
    t.fetch(0, undefined)
    assert.equal(t.doubt.outstanding, 1)
    assert.deepEqual(
      t.doubt.list().map((r) => [r.start, r.end, r.count]),
      [[10, 13, 3]],
    )
    t.fetch(0, '13')
    assert.equal(await t.lost(), 3)
  })
})

describe('the ledger: resolved by reading the committed offset before the partition changes owner', () => {
  it('this member still in the group holding the partition: at the range end -> lost; below -> not written; above -> in doubt', async () => {
    const t = setup(async () => answer([[0, 12], [1, 10], [2, 40]]))
    t.doubt.record('orders', 0, 10, 12, 2, 'NOT_COORDINATOR_FOR_GROUP')
    t.doubt.record('orders', 1, 10, 12, 2, 'NOT_COORDINATOR_FOR_GROUP')
    t.doubt.record('orders', 2, 10, 12, 2, 'NOT_COORDINATOR_FOR_GROUP')
    await t.doubt.resolve('rebalance')
    assert.equal(t.doubt.outstanding, 0)
    assert.equal(await t.lost(), 2)
    assert.equal(await t.inDoubt(), 2)
    assert.equal(t.lines.filter((l) => l.inDoubt === true && /not resolved/.test(String(l.msg))).length, 1)
  })
  it('a stable group whose assignment still gives this member the partition: its own, also after a crash or at shutdown', async () => {
    for (const when of ['crash', 'shutdown'] as const) {
      const t = setup(async () => answer([[0, 12]], new Map([['m1', { orders: [0, 3] }], ['m2', { orders: [1, 2] }]]), 'Stable'))
      t.doubt.record('orders', 0, 10, 12, 2, 'KafkaJSConnectionClosedError')
      await t.doubt.resolve(when)
      assert.equal(await t.lost(), 2, when)
    }
  })
  it('read at the range end when this member had been removed from the group (seen on Apache Kafka: the new owner had written it): in doubt, not lost', async () => {
    const removed = setup(async () => answer([[3, 70]], new Map([['m2', { orders: [0, 1, 2, 3, 4, 5] }]]), 'Stable'))
    removed.doubt.record('orders', 3, 69, 70, 1, 'NOT_COORDINATOR_FOR_GROUP')
    await removed.doubt.resolve('rebalance')
    assert.equal(await removed.lost(), 0)
    assert.equal(await removed.inDoubt(), 1)
    const rejoinedAnew = setup(async () => answer([[3, 70]]))
    rejoinedAnew.doubt.record('orders', 3, 69, 70, 1, 'NOT_COORDINATOR_FOR_GROUP')
    rejoinedAnew.join('m9', { orders: [3] }) // a new member id: it had been removed meanwhile
    await rejoinedAnew.doubt.resolve('rebalance')
    assert.equal(await rejoinedAnew.inDoubt(), 1)
    const handedOver = setup(async () => answer([[3, 70]], new Map([['m1', { orders: [0] }], ['m2', { orders: [3] }]]), 'Stable'))
    handedOver.doubt.record('orders', 3, 69, 70, 1, 'NOT_COORDINATOR_FOR_GROUP')
    await handedOver.doubt.resolve('crash')
    assert.equal(await handedOver.inDoubt(), 1)
  })
  it('merged commits: a committed offset read inside the range at the end of one of them is that commit written: the messages below it are lost, the rest not written', async () => {
    const t = setup(async () => answer([[1, 115]]))
    t.doubt.record('orders', 1, 112, 115, 3, 'KafkaJSConnectionClosedError') // written by the dying coordinator
    t.doubt.record('orders', 1, 112, 132, 20, 'NOT_COORDINATOR_FOR_GROUP') // not written
    assert.deepEqual(t.doubt.list().map((r) => [r.start, r.end]), [[112, 132]])
    await t.doubt.resolve('rebalance')
    assert.equal(await t.lost(), 3)
    assert.equal(await t.inDoubt(), 0)
    assert.ok(t.lines.some((l) => l.lost === true && l.fromOffset === 112 && l.toOffset === 114))
    const notOurs = setup(async () => answer([[1, 120]]))
    notOurs.doubt.record('orders', 1, 112, 115, 3, 'KafkaJSConnectionClosedError')
    notOurs.doubt.record('orders', 1, 112, 132, 20, 'NOT_COORDINATOR_FOR_GROUP')
    await notOurs.doubt.resolve('rebalance')
    assert.equal(await notOurs.lost(), 0, 'an offset inside that none of its commits wrote: not written')
  })

  it('below the range end is not written, whoever reads it; what close() finds unresolved at shutdown is counted in doubt', async () => {
    const t = setup(async () => answer([[0, 11]], new Map()))
    t.doubt.record('orders', 0, 10, 12, 2, 'KafkaJSConnectionClosedError')
    await t.doubt.resolve('crash')
    assert.equal(await t.lost(), 0)
    assert.equal(await t.inDoubt(), 0)
    const s = setup(async () => Promise.reject(new Error('coordinator not available')), 50)
    s.doubt.record('orders', 0, 10, 12, 2, 'KafkaJSConnectionClosedError')
    void s.doubt.resolve('rebalance', 10_000)
    s.doubt.close()
    assert.equal(await s.inDoubt(), 2)
  })
  it('the coordinator unreachable for the whole budget: counted in doubt with a warn line, never silently', async () => {
    let reads = 0
    const t = setup(async () => {
      reads++
      throw new Error('The group coordinator is not available')
    }, 150)
    t.doubt.record('orders', 5, 7, 8, 1, 'REQUEST_TIMED_OUT')
    await t.doubt.resolve('rebalance')
    assert.ok(reads >= 2, `retried (${reads} reads)`)
    assert.equal(t.doubt.outstanding, 0)
    assert.equal(await t.inDoubt(), 1)
    const warn = t.lines.find((l) => l.level === 40 && /could not be read/.test(String(l.msg)))
    assert.ok(warn, JSON.stringify(t.lines))
    assert.deepEqual([warn.partition, warn.fromOffset, warn.toOffset], [5, 7, 7])
  })
  it('the coordinator back within the budget: resolved by the read that succeeds', async () => {
    let reads = 0
    const t = setup(async () => {
      if (++reads < 3) throw new Error('NOT_COORDINATOR')
      return answer([[0, 12]])
    }, 2000)
    t.doubt.record('orders', 0, 10, 12, 2, 'NOT_COORDINATOR_FOR_GROUP')
    await t.doubt.resolve('rebalance')
    assert.equal(reads, 3)
    assert.equal(await t.lost(), 2)
    assert.equal(await t.inDoubt(), 0)
  })
  it('a range settled by an acknowledged commit while the read was on its way is not counted', async () => {
    let release: () => void = () => undefined
    const t = setup(
      () =>
        new Promise((resolve) => {
          release = () => resolve(answer([[0, 12]]))
        }),
      2000,
    )
    t.doubt.record('orders', 0, 10, 12, 2, 'NOT_COORDINATOR_FOR_GROUP')
    const done = t.doubt.resolve('rebalance')
    await new Promise((r) => setImmediate(r))
    t.doubt.acknowledged(t.p(0), 12)
    release()
    await done
    assert.equal(await t.lost(), 0)
    assert.equal(await t.inDoubt(), 0)
  })
  it('nothing outstanding: no read at all', async () => {
    let reads = 0
    const t = setup(async () => {
      reads++
      return answer([])
    })
    await t.doubt.resolve('rebalance')
    assert.equal(reads, 0)
  })
})

describe("PartitionCommitter's failure path feeds the ledger (sync mode)", () => {
  const committer = (mode: 'sync' | 'async' = 'sync') => setup(undefined, undefined, mode)
  it('an attempt lost after sending, then a clean refusal: the commit is in doubt (the first attempt may have been written)', async () => {
    const t = committer()
    assert.equal(await t.commit(4, 11, 1), true)
    let attempt = 0
    const ok = await t.commit(4, 13, 2, async () => {
      throw attempt++ === 0 ? kafkaError('KafkaJSConnectionClosedError', 'Closed connection') : protocolError('UNKNOWN_MEMBER_ID', false)
    })
    assert.equal(ok, false)
    assert.deepEqual(
      t.doubt.list().map((r) => [r.partition, r.start, r.end, r.count, r.error]),
      [[4, 11, 13, 2, 'KafkaJSConnectionClosedError']],
    )
    assert.ok(t.lines.some((l) => l.inDoubt === true && String(l.msg).startsWith('commit failed')))
  })
  it('a clean refusal alone is not in doubt; nor is any failure in async mode (its messages were processed)', async () => {
    const t = committer()
    assert.equal(await t.commit(4, 13, 2, async () => Promise.reject(protocolError('REBALANCE_IN_PROGRESS'))), false)
    assert.equal(t.doubt.outstanding, 0)
    const a = committer('async')
    assert.equal(await a.commit(4, 13, 2, async () => Promise.reject(protocolError('NOT_COORDINATOR_FOR_GROUP'))), false)
    assert.equal(a.doubt.outstanding, 0)
  })
  it('a later acknowledged commit of the partition settles the range (processed here)', async () => {
    const t = committer()
    await t.commit(4, 13, 2, async () => Promise.reject(protocolError('NOT_COORDINATOR_FOR_GROUP')))
    assert.equal(t.doubt.outstanding, 1)
    assert.equal(await t.commit(4, 13, 2), true)
    assert.equal(t.doubt.outstanding, 0)
  })
  it('in doubt then acknowledged on a retry: written, nothing to resolve', async () => {
    const t = committer()
    let attempt = 0
    const ok = await t.commit(4, 5, 5, async () => {
      if (attempt++ === 0) throw protocolError('NOT_COORDINATOR_FOR_GROUP')
    })
    assert.equal(ok, true)
    assert.equal(t.doubt.outstanding, 0)
  })
})
