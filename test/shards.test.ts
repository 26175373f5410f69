/** src/consumer/shards.ts: ORDERING reduced to a shard per message. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { shardsFor, type Shards } from '../src/consumer/shards.ts'
import { messages } from './support/fake-batch.ts'

/** Add all, then take what is ready, finishing each in `finishOrder` preference; returns the start order. */
function drain(s: Shards, n: number, concurrent: boolean): number[] {
  for (let k = 0; k < n; k++) s.add(k)
  const started: number[] = []
  const running: number[] = []
  while (started.length < n) {
    while (s.ready > 0) {
      const k = s.take()
      started.push(k)
      running.push(k)
      if (!concurrent) break
    }
    // finish the newest first: the worst case for order
    const k = running.pop()!
    s.done(k)
  }
  return started
}

describe('shards', () => {
  it('partition: one at a time, in offset order, whatever finishes when', () => {
    const s = shardsFor('partition', messages(['a', 'b', null, 'a']))
    s.add(0)
    s.add(1)
    assert.equal(s.ready, 1)
    assert.equal(s.queued, 2)
    assert.equal(s.take(), 0)
    assert.equal(s.ready, 0, 'the shard is busy')
    assert.equal(s.queued, 1)
    s.done(0)
    assert.equal(s.take(), 1)
    s.done(1)
    assert.equal(s.ready, 0, 'nothing covered left')
    s.add(2)
    s.add(3)
    assert.deepEqual([s.take()], [2])
    assert.deepEqual(drain(shardsFor('partition', messages(Array(6).fill('k'))), 6, true), [0, 1, 2, 3, 4, 5])
  })
  it('key: a key one at a time in offset order, different keys at once; no key is one key', () => {
    const s = shardsFor('key', messages(['a', 'b', 'a', null, null, 'b']))
    for (let k = 0; k < 6; k++) s.add(k)
    const first: number[] = []
    while (s.ready > 0) first.push(s.take())
    assert.deepEqual(first, [0, 1, 3], 'the first of each key')
    assert.equal(s.queued, 3)
    s.done(3)
    assert.deepEqual([s.take()], [4], 'keyless messages keep their order')
    s.done(0)
    assert.deepEqual([s.take()], [2])
    s.done(1)
    assert.deepEqual([s.take()], [5])
    assert.equal(s.queued, 0)
  })
  it('unordered: everything covered is ready at once', () => {
    const s = shardsFor('unordered', messages(['a', 'a', 'a']))
    for (let k = 0; k < 3; k++) s.add(k)
    assert.equal(s.ready, 3)
    assert.deepEqual([s.take(), s.take(), s.take()], [0, 1, 2])
  })
  it('key: per-key order holds under any finishing order, over many messages', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `k${(i * 7) % 13}`)
    const order = drain(shardsFor('key', messages(keys)), keys.length, true)
    assert.equal(new Set(order).size, keys.length, 'each once')
    const last = new Map<string, number>()
    for (const k of order) {
      assert.ok(k > (last.get(keys[k]!) ?? -1), `key ${keys[k]}: ${k} after ${last.get(keys[k]!)}`)
      last.set(keys[k]!, k)
    }
  })
})
