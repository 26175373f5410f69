/**
 * src/consumer/loss-ledger/judge.ts: the loss ledger's decisions as pure functions of a range in
 * doubt and what was observed (a fetch, or the committed offset read and then the group). Plain
 * values: no timers, no broker, no logger.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { judgeFetch, judgeRead, ownership, unresolved, type GroupView } from '../src/consumer/loss-ledger/judge.ts'
import type { DoubtRange } from '../src/consumer/loss-ledger/ranges.ts'

const range = (over: Partial<DoubtRange> = {}): DoubtRange => ({
  topic: 'orders',
  partition: 3,
  start: 10,
  end: 12,
  ends: [12],
  count: 2,
  error: 'NOT_COORDINATOR_FOR_GROUP',
  member: 'm1',
  left: false,
  ...over,
})
const group = (members: Array<[string, Record<string, number[]> | undefined]>, state = 'Stable'): GroupView => ({ state, members: new Map(members) })
const rebalancing = group([['m1', undefined]], 'PreparingRebalance')

describe('judgeFetch: this member fetched the partition again', () => {
  it('at or past the range end, same member, partition kept: written, lost', () => {
    for (const fetched of [12, 40]) {
      const v = judgeFetch(range(), fetched, 'm1')
      assert.equal(v?.kind, 'lost', `fetched from ${fetched}`)
      assert.match(v.how, new RegExp(`offset ${fetched}`))
    }
  })
  it('inside or before the range: nothing decided (read again)', () => {
    assert.equal(judgeFetch(range(), 11, 'm1'), undefined)
    assert.equal(judgeFetch(range(), 3, 'm1'), undefined)
  })
  it('removed from the group since, another member id, or the partition left meanwhile: nothing decided', () => {
    assert.equal(judgeFetch(range({ member: '' }), 12, 'm1'), undefined)
    assert.equal(judgeFetch(range(), 12, 'm2'), undefined)
    assert.equal(judgeFetch(range({ left: true }), 12, 'm1'), undefined)
  })
})

describe('judgeRead: the committed offset read, then the group described', () => {
  it('below the range end: not written', () => {
    for (const committed of [-1, 10, 11]) {
      const v = judgeRead(range(), committed, rebalancing, 'rebalance')
      assert.deepEqual(v.map((x) => x.kind), ['not_written'], `committed ${committed}`)
    }
  })
  it('at the end, this member still in the group with the partition (or a rebalance under way): lost', () => {
    assert.deepEqual(judgeRead(range(), 12, rebalancing, 'rebalance').map((x) => x.kind), ['lost'])
    assert.deepEqual(judgeRead(range(), 12, group([['m1', { orders: [3] }], ['m2', { orders: [1] }]]), 'crash').map((x) => x.kind), ['lost'])
  })
  it('at the end but the member was removed, rejoined anew, or the partition went to another member: unknowable', () => {
    const cases: Array<[DoubtRange, GroupView]> = [
      [range(), group([['m2', { orders: [3] }]])], // removed (session expired)
      [range({ member: '' }), rebalancing], // rejoined with a new member id
      [range({ left: true }), rebalancing], // the partition left this member meanwhile
      [range(), group([['m1', { orders: [0] }], ['m2', { orders: [3] }]])], // handed over
    ]
    for (const [r, g] of cases) {
      const v = judgeRead(r, 12, g, 'rebalance')
      assert.deepEqual(v.map((x) => x.kind), ['unknowable'], JSON.stringify(r))
    }
  })
  it('past the end: unknowable, even for its own member (another commit moved it)', () => {
    const v = judgeRead(range(), 40, rebalancing, 'shutdown')
    assert.deepEqual(v.map((x) => x.kind), ['unknowable'])
    assert.match((v[0] as { how: string }).how, /past the range/)
  })
  it('merged commits, read at the end of one inside: lost below it, not written above it', () => {
    const r = range({ start: 112, end: 132, ends: [115, 132], count: 20 })
    const v = judgeRead(r, 115, rebalancing, 'rebalance')
    assert.deepEqual(
      v.map((x) => [x.kind, x.range.start, x.range.end, x.range.count]),
      [
        ['lost', 112, 115, 3],
        ['not_written', 115, 132, 20],
      ],
    )
    assert.equal((v[1] as { past: boolean }).past, true)
    assert.deepEqual(judgeRead(r, 120, rebalancing, 'rebalance').map((x) => x.kind), ['not_written'], 'an offset inside that none of its commits had as target')
  })
  it('never mutates the range it judges', () => {
    const r = range({ start: 112, end: 132, ends: [115, 132], count: 20 })
    const before = structuredClone(r)
    judgeRead(r, 115, rebalancing, 'rebalance')
    assert.deepEqual(r, before)
  })
})

describe('ownership and unresolved', () => {
  it('says why another member could have owned the partition, or true', () => {
    assert.equal(ownership(range(), rebalancing), true)
    assert.match(String(ownership(range({ member: '' }), rebalancing)), /new member id/)
    assert.match(String(ownership(range({ left: true }), rebalancing)), /assigned to another member since/)
    assert.match(String(ownership(range(), group([]))), /session expired/)
    assert.match(String(ownership(range(), group([['m1', { orders: [1] }]]))), /assigned to another member/)
  })
  it('a range left unresolved is unknowable, with the reason', () => {
    assert.deepEqual(unresolved(range(), 'no read'), { kind: 'unknowable', range: range(), how: 'no read' })
  })
})
