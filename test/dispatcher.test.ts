/**
 * src/consumer/dispatcher.ts without a broker: the one dispatcher, for each ORDERING, driven through
 * consumeBatchSync (the real gate, shards, window policy and message runner) against a fake group
 * coordinator (test/support/fake-batch.ts). Every case checks the rule on every call against the
 * COORDINATOR's record, not the consumer's: the coordinator had acknowledged a commit beyond the
 * message when its handler started; no message was handed over twice; committed-but-unfinished
 * never exceeded COMMIT_WINDOW. (The gate alone: at-most-once.test.ts.)
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InFlightLimiter } from '../src/consumer/in-flight.ts'
import { messages, runBatch, type Call } from './support/fake-batch.ts'

/** The checks every run makes: the rule, no duplicate, the window bound. */
function assertAtMostOnce(calls: Call[], window: number): void {
  const seen = new Set<number>()
  for (const c of calls) {
    assert.ok(c.brokerAckedAtStart > c.offset, `offset ${c.offset} started with the coordinator's acknowledged commit at ${c.brokerAckedAtStart}`)
    assert.ok(!seen.has(c.offset), `offset ${c.offset} handed over twice`)
    seen.add(c.offset)
    assert.ok(c.atRiskAtStart <= window, `at risk ${c.atRiskAtStart} > COMMIT_WINDOW ${window} at offset ${c.offset}`)
  }
}

/** Per key: calls in offset order, never two at once. */
function assertKeyOrder(calls: Call[]): void {
  const last = new Map<string | null, number>()
  for (const c of calls) {
    assert.equal(c.sameKey, 1, `key ${c.key} ran twice at once (offset ${c.offset})`)
    const prev = last.get(c.key) ?? -1
    assert.ok(c.offset > prev, `key ${c.key}: offset ${c.offset} after ${prev}`)
    last.set(c.key, c.offset)
  }
}

const keys = (n: number, distinct: number) => Array.from({ length: n }, (_, i) => `k${(i * 7) % distinct}`)

describe('dispatcher', () => {
  for (const ordering of ['partition', 'key', 'unordered'] as const) {
    it(`${ordering}: every message once, each after its commit was acknowledged, at risk ≤ window`, async () => {
      const batch = messages(keys(300, 13))
      for (const window of [1, 7, 50]) {
        const r = await runBatch(batch, { ordering, window, handlerMs: (o) => (o % 5 === 0 ? 3 : o % 3), commitMs: 1 })
        assert.equal(r.calls.length, 300, `window ${window}`)
        assertAtMostOnce(r.calls, window)
        if (ordering !== 'unordered') assertKeyOrder(r.calls)
        if (ordering === 'partition') assert.ok(r.calls.every((c) => c.concurrent === 1))
        assert.deepEqual(r.resolved, ['299'])
        assert.equal(r.state.next, 300)
        assert.equal(r.atRiskAfter, 0)
        assert.equal(r.dropped.length, 0)
        assert.ok(r.commits.every((c, i) => i === 0 || c > r.commits[i - 1]!), 'commits move forward only, none repeated')
        assert.equal(r.committedTotal, 300, `window ${window}: consumer_messages_committed_total counts each message once`)
      }
    })
  }

  for (const ordering of ['partition', 'key', 'unordered'] as const) {
    it(`${ordering}: acknowledgements and handler completions in the same microtask drain: no window sent twice, each message counted committed once`, async () => {
      const r = await runBatch(messages(keys(300, 29)), { ordering, window: 20, handlerMs: (o) => 1 + (o % 2), lockstepMs: 1 })
      assert.equal(r.calls.length, 300)
      assertAtMostOnce(r.calls, 20)
      assert.ok(r.commits.every((c, i) => i === 0 || c > r.commits[i - 1]!), `a commit repeated: ${r.commits.join(' ')}`)
      assert.equal(r.committedTotal, 300, 'consumer_messages_committed_total counts each message once')
    })
  }

  it('key: different keys run concurrently, up to the window', async () => {
    const r = await runBatch(messages(keys(200, 50)), { ordering: 'key', window: 20, handlerMs: () => 5 })
    assertAtMostOnce(r.calls, 20)
    assertKeyOrder(r.calls)
    const peak = Math.max(...r.calls.map((c) => c.concurrent))
    assert.ok(peak > 10 && peak <= 20, `peak concurrency ${peak}`)
  })

  it('key: a handler that fails or times out costs only its own message; the loop goes on', async () => {
    const r = await runBatch(messages(keys(100, 9)), { ordering: 'key', window: 10, handlerMs: () => 1, fails: (o) => o % 5 === 0 })
    assertAtMostOnce(r.calls, 10)
    assertKeyOrder(r.calls)
    assert.equal(r.calls.length, 100)
    assert.deepEqual(r.resolved, ['99'])
  })

  it('key: messages without a key keep their order among themselves, one at a time', async () => {
    const r = await runBatch(messages([null, 'a', null, 'b', null, null, 'a']), { ordering: 'key', window: 7, handlerMs: (o) => 7 - o })
    assertKeyOrder(r.calls)
    assert.deepEqual(r.calls.filter((c) => c.key === null).map((c) => c.offset), [0, 2, 4, 5])
  })

  it('unordered: keyless messages run concurrently', async () => {
    const r = await runBatch(messages(Array(40).fill(null)), { ordering: 'unordered', window: 10, handlerMs: () => 5 })
    assertAtMostOnce(r.calls, 10)
    assert.ok(Math.max(...r.calls.map((c) => c.concurrent)) === 10)
  })

  it('MAX_IN_FLIGHT caps handler calls across partitions', async () => {
    const limiter = new InFlightLimiter(4)
    const runs = await Promise.all(
      [0, 1, 2].map(() => runBatch(messages(keys(60, 60)), { ordering: 'unordered', window: 30, limiter, handlerMs: () => 2 })),
    )
    for (const r of runs) {
      assert.equal(r.calls.length, 60)
      assert.ok(r.maxInFlight <= 4, `in flight ${r.maxInFlight}`)
    }
    assert.equal(limiter.count, 0, 'every slot released')
  })

  for (const ordering of ['partition', 'key'] as const) {
    it(`${ordering}: a failed commit stops the batch; only covered messages ran, the resolved offset is a finished prefix`, async () => {
      const r = await runBatch(messages(keys(100, 5)), { ordering, window: 10, handlerMs: () => 1, failCommitFrom: 35 })
      assertAtMostOnce(r.calls, 10)
      const last = Math.max(...r.calls.map((c) => c.offset))
      assert.ok(last < 35, `processed up to ${last}`)
      assert.equal(r.calls.length, last + 1, 'a prefix, nothing skipped')
      assert.deepEqual(r.resolved, [String(last)])
      assert.equal(r.atRiskAfter, 0)
    })
  }

  it('messages fetched again below the processed position are never handed over', async () => {
    for (const ordering of ['partition', 'key', 'unordered'] as const) {
      const r = await runBatch(messages(keys(20, 3), 100), { ordering, window: 5, processedBelow: 110 })
      assert.deepEqual(r.calls.map((c) => c.offset).sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => 110 + i))
      assert.ok(r.commits[0]! > 110, 'no commit behind the processed position')
    }
  })

  for (const ordering of ['partition', 'key', 'unordered'] as const) {
    it(`${ordering}: at the shutdown deadline, running calls are abandoned and the covered rest is dropped, each counted`, async () => {
      const deadline = new AbortController()
      setTimeout(() => deadline.abort(new Error('deadline')), 30)
      const r = await runBatch(messages(keys(50, 50)), {
        ordering,
        window: 10,
        deadline: deadline.signal,
        handlerMs: () => 20,
      })
      assertAtMostOnce(r.calls, 10)
      const covered = r.coordinator.acked.get(0)!
      // Every covered message either ran or was dropped; none is left silently.
      assert.equal(r.calls.length + r.dropped.length, covered, `ran ${r.calls.length}, dropped ${r.dropped.length}, covered ${covered}`)
      assert.equal(r.atRiskAfter, 0)
    })
  }
})
