/** src/consumer/loss-ledger/ranges.ts: the ranges in doubt per partition, merged, trimmed, marked by group membership. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DoubtRanges } from '../src/consumer/loss-ledger/ranges.ts'

const spans = (s: DoubtRanges) => s.live().map((r) => [r.partition, r.start, r.end, r.count])

describe('DoubtRanges', () => {
  it('keeps a range per failed commit; nothing for an empty one', () => {
    const s = new DoubtRanges()
    assert.equal(s.record('t', 0, 10, 10, 0, 'X', 'm1'), undefined)
    s.record('t', 0, 10, 12, 2, 'X', 'm1')
    s.record('t', 1, 10, 12, 2, 'X', 'm1')
    assert.deepEqual(spans(s), [[0, 10, 12, 2], [1, 10, 12, 2]])
    assert.equal(s.outstanding, 2)
  })
  it('overlapping ranges of a partition merge, keeping every target; never counted beyond the span', () => {
    const s = new DoubtRanges()
    s.record('t', 0, 112, 115, 3, 'A', 'm1')
    const merged = s.record('t', 0, 112, 132, 20, 'B', 'm1')
    assert.deepEqual(spans(s), [[0, 112, 132, 20]])
    assert.deepEqual(merged?.ends, [115, 132])
    assert.equal(merged?.error, 'B')
  })
  it('an acknowledged commit removes the ranges it covers whole and trims the one it covers in part', () => {
    const s = new DoubtRanges()
    s.record('t', 0, 10, 12, 2, 'X', 'm1')
    s.record('t', 0, 20, 25, 5, 'X', 'm1')
    assert.deepEqual(s.acknowledged('t', 0, 22).map((r) => [r.start, r.end]), [[10, 12]])
    assert.deepEqual(spans(s), [[0, 22, 25, 3]])
    assert.deepEqual(s.acknowledged('t', 1, 100), [], 'another partition: nothing')
  })
  it('a join marks what another member may have owned: a new member id clears it for good, a partition not assigned has left', () => {
    const s = new DoubtRanges()
    const a = s.record('t', 0, 10, 12, 2, 'X', 'm1')!
    const b = s.record('t', 1, 10, 12, 2, 'X', 'm1')!
    s.joined('m1', 'm1', { t: [0] })
    assert.deepEqual([a.member, a.left, b.member, b.left], ['m1', false, 'm1', true])
    s.joined('m1', 'm2', { t: [0, 1] })
    assert.deepEqual([a.member, b.member], ['', ''])
    s.joined('m2', 'm1', { t: [0, 1] })
    assert.equal(a.member, '', 'an old member id never makes a range "own" again')
  })
  it('holds and remove, by identity', () => {
    const s = new DoubtRanges()
    const r = s.record('t', 0, 10, 12, 2, 'X', 'm1')!
    assert.equal(s.holds(r), true)
    assert.equal(s.holds({ ...r }), false)
    s.remove(r)
    assert.equal(s.holds(r), false)
    assert.equal(s.outstanding, 0)
  })
})
