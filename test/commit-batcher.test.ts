/**
 * src/consumer/commit-batcher.ts without a broker: commits of several partitions coalesced into
 * one OffsetCommit request at a time, driven with a stand-in for kafkajs'
 * commitOffsetsIfNecessary that records each request and answers when told.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CommitBatcher, type CommitVia } from '../src/consumer/commit-batcher.ts'

type Request = Parameters<CommitVia>[0]

/** A commitOffsetsIfNecessary that records each request and answers when told. */
function stubVia() {
  const requests: Request[] = []
  const answers: Array<{ resolve: () => void; reject: (err: unknown) => void }> = []
  let inFlight = 0
  let maxInFlight = 0
  const via = ((offsets: Request) => {
    requests.push(offsets)
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    return new Promise<void>((resolve, reject) => {
      answers.push({
        resolve: () => (inFlight--, resolve()),
        reject: (err) => (inFlight--, reject(err)),
      })
    })
  }) as CommitVia
  return { via, requests, answers, maxInFlight: () => maxInFlight }
}

/** What one request carried, as `topic/partition=offset`, sorted. */
const carried = (r: Request | undefined) =>
  (r?.topics ?? []).flatMap((t) => t.partitions.map((p) => `${t.topic}/${p.partition}=${p.offset}`)).sort()

const turn = () => new Promise((r) => setImmediate(r))
/** A few turns of the event loop, until `n` requests were sent (the next one leaves a turn after the answer). */
async function requestsReach(s: { requests: Request[] }, n: number): Promise<void> {
  for (let i = 0; i < 5 && s.requests.length < n; i++) await turn()
}

describe('CommitBatcher', () => {
  it('partitions that ask in the same turn travel in one request, grouped by topic; each caller resolves on its acknowledgement', async () => {
    const b = new CommitBatcher()
    const s = stubVia()
    b.use(s.via)
    let settled = 0
    const done = [b.send('a', 0, 5), b.send('a', 1, 9), b.send('b', 0, 2)].map((p) => p.then(() => settled++))
    assert.equal(s.requests.length, 0, 'nothing is sent before the end of the turn')
    await turn()
    assert.equal(s.requests.length, 1)
    assert.deepEqual(carried(s.requests[0]), ['a/0=5', 'a/1=9', 'b/0=2'])
    assert.deepEqual(s.requests[0]!.topics.map((t) => t.topic).sort(), ['a', 'b'])
    assert.equal(settled, 0, 'not before the acknowledgement')
    s.answers[0]!.resolve()
    await Promise.all(done)
    assert.equal(settled, 3)
  })

  it('one request at a time: what asks meanwhile waits and goes in the next one, with each partition\'s newest offset', async () => {
    const b = new CommitBatcher()
    const s = stubVia()
    b.use(s.via)
    const first = b.send('a', 0, 5)
    await turn()
    const later = [b.send('a', 0, 7), b.send('a', 1, 3), b.send('a', 0, 6)]
    await turn()
    assert.equal(s.requests.length, 1, 'nothing sent while a request is in flight')
    s.answers[0]!.resolve()
    await first
    await requestsReach(s, 2)
    assert.equal(s.requests.length, 2)
    assert.deepEqual(carried(s.requests[1]), ['a/0=7', 'a/1=3'], 'a/0 once, at its newest offset (7, not 6)')
    s.answers[1]!.resolve()
    await Promise.all(later)
    assert.equal(s.maxInFlight(), 1)
  })

  it('a failed request rejects every caller it carried, with its error; the next request is still sent', async () => {
    const b = new CommitBatcher()
    const s = stubVia()
    b.use(s.via)
    const err = Object.assign(new Error('stand-in'), { type: 'REBALANCE_IN_PROGRESS' })
    const carriedByFirst = [b.send('a', 0, 5), b.send('a', 1, 9)]
    await turn()
    const waiting = b.send('a', 2, 1)
    s.answers[0]!.reject(err)
    for (const p of carriedByFirst) await assert.rejects(p, (e) => e === err)
    await requestsReach(s, 2)
    assert.equal(s.requests.length, 2)
    assert.deepEqual(carried(s.requests[1]), ['a/2=1'])
    s.answers[1]!.resolve()
    await waiting
  })

  it('sends through the newest way to the coordinator a batch gave it', async () => {
    const b = new CommitBatcher()
    const old = stubVia()
    const fresh = stubVia()
    b.use(old.via)
    const first = b.send('a', 0, 1)
    b.use(fresh.via) // a newer batch, before the request went out
    const p = [first, b.send('a', 1, 1)]
    await turn()
    assert.equal(old.requests.length, 0)
    assert.equal(fresh.requests.length, 1)
    fresh.answers[0]!.resolve()
    await Promise.all(p)
  })
})
