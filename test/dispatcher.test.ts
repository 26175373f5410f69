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
import { Registry } from 'prom-client'
import { CircuitBreaker } from '../src/consumer/breaker.ts'
import { InFlightLimiter } from '../src/consumer/in-flight.ts'
import { createMetrics } from '../src/metrics.ts'
import { fakePartition, FakeCoordinator, messages, runBatch, sleep, type Call } from './support/fake-batch.ts'
import { memoryLog } from './support/memory-log.ts'

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

describe('dispatcher and the circuit breaker', () => {
  const breaker = (o: { threshold: number; backoffMs?: number; probe?: () => Promise<void> }) => {
    const m = createMetrics(new Registry(), { defaultMetrics: false, commitMode: 'sync' })
    return new CircuitBreaker({ threshold: o.threshold, backoffMs: o.backoffMs ?? 60_000, backoffMaxMs: 60_000, probe: o.probe, held: () => 0, log: memoryLog().log, metrics: m.breaker })
  }
  const until = async (f: () => boolean, ms = 5000) => {
    for (const end = Date.now() + ms; !f(); ) {
      assert.ok(Date.now() < end, 'timed out')
      await sleep(5)
    }
  }

  for (const ordering of ['partition', 'key', 'unordered'] as const) {
    it(`${ordering}: once open, nothing more starts and nothing more is committed; the covered rest is held, at risk, not dropped; the batch resolves only its finished prefix`, async () => {
      const b = breaker({ threshold: 3 })
      const coordinator = new FakeCoordinator()
      const p = fakePartition(coordinator)
      let openedAt = -1
      b.onChange((s) => {
        if (s === 'open') openedAt = coordinator.sent.length
      })
      // A window larger than what can have started when it opens (5 ok + 3 failed + 3 in flight).
      const r = await runBatch(messages(keys(60, 7)), { ordering, window: 20, handlerMs: () => 1, fails: (o) => o >= 5, breaker: b, coordinator, partition: p, maxInFlight: 3 })
      assert.equal(b.state, 'open')
      assertAtMostOnce(r.calls, 20)
      assert.ok(openedAt >= 0)
      assert.equal(coordinator.sent.length, openedAt, `no commit sent after it opened: ${coordinator.sent.join(' ')}`)
      const covered = coordinator.acked.get(0)!
      const held = covered - r.calls.length
      assert.ok(r.calls.length <= 5 + 3 + 3, `${r.calls.length} calls: the failures that opened it plus the calls in flight then (MAX_IN_FLIGHT 3)`)
      assert.ok(held > 0, 'something is held')
      assert.equal(p.state.atRisk.count, held, 'every held message is at risk')
      assert.equal(r.atRiskAfter, held, 'and the gauge says so')
      assert.deepEqual(r.dropped, [], 'held is not dropped')
      assert.equal(r.calls.filter((c) => c.breakerAtStart === 'open').length, 0, 'nothing started while open')
      if (ordering === 'partition') {
        assert.deepEqual(r.resolved, [String(r.calls.length - 1)], 'the finished prefix only')
        assert.equal(p.state.next, r.calls.length)
      }
    })
  }

  it('closed again (the probe succeeded), the next fetch runs the held messages first, without committing them again, then the rest', async () => {
    let up = false
    const b = breaker({ threshold: 3, backoffMs: 20, probe: async () => {
      if (!up) throw new Error('down')
    } })
    const coordinator = new FakeCoordinator()
    const p = fakePartition(coordinator)
    const batch = messages(Array(40).fill('k'))
    const first = await runBatch(batch, { ordering: 'partition', window: 10, handlerMs: () => 1, fails: (o) => o >= 4 && !up, breaker: b, coordinator, partition: p })
    const next = p.state.next
    const held = p.state.atRisk.count
    assert.ok(held > 0)
    const sentBefore = coordinator.sent.length
    up = true
    await until(() => b.closed)
    // kafkajs fetches again from the resolved offset: the held messages are the first of the batch.
    const second = await runBatch(batch.slice(next), { ordering: 'partition', window: 10, handlerMs: () => 1, breaker: b, coordinator, partition: p })
    assert.deepEqual(second.calls.slice(0, held).map((c) => c.offset), Array.from({ length: held }, (_, i) => next + i), 'the held messages first, in order')
    assertAtMostOnce([...first.calls, ...second.calls], 10)
    assert.ok(coordinator.sent.slice(sentBefore).every((t) => t > next + held), 'no commit repeats the held window')
    assert.equal(first.calls.length + second.calls.length, 40, 'every message once')
    assert.equal(p.state.atRisk.count, 0)
  })

  it('half-open (no probe): exactly one trial call in the process; while it runs the other batches wait; its success lets everyone go on', async () => {
    const b = breaker({ threshold: 2, backoffMs: 30 })
    const coordinator = new FakeCoordinator()
    const parts = [fakePartition(coordinator, 0), fakePartition(coordinator, 1)]
    let down = true
    const fails = () => down
    await runBatch(messages(Array(20).fill('k')), { ordering: 'partition', window: 5, handlerMs: () => 1, fails, breaker: b, coordinator, partition: parts[0]! })
    assert.equal(b.state, 'open')
    down = false
    await until(() => b.state === 'half_open')
    const runs = await Promise.all(
      parts.map((part) => runBatch(messages(Array(20).fill('k')).slice(Math.max(0, part.state.next)), { ordering: 'partition', window: 5, handlerMs: () => 20, breaker: b, coordinator, partition: part })),
    )
    const trial = runs.flatMap((r) => r.calls).filter((c) => c.breakerAtStart === 'half_open')
    assert.equal(trial.length, 1, 'one trial')
    assert.equal(b.state, 'closed')
    for (const r of runs) assertAtMostOnce(r.calls, 5)
  })

  it('a batch that can no longer wait for the trial (shutdown or a rebalance) returns, its covered messages held', async () => {
    const b = breaker({ threshold: 1, backoffMs: 10 })
    const coordinator = new FakeCoordinator()
    const p = fakePartition(coordinator)
    await runBatch(messages(Array(10).fill('k')), { ordering: 'partition', window: 5, handlerMs: () => 1, fails: () => true, breaker: b, coordinator, partition: p })
    await until(() => b.state === 'half_open')
    assert.equal(b.admit(), true) // the trial is taken elsewhere
    let running = true
    setTimeout(() => (running = false), 50)
    const r = await runBatch(messages(Array(10).fill('k')).slice(p.state.next), { ordering: 'partition', window: 5, handlerMs: () => 1, breaker: b, coordinator, partition: p, isRunning: () => running })
    assert.equal(r.calls.length, 0, 'nothing started without the trial')
    assert.ok(p.state.atRisk.count > 0, 'still held')
    assert.deepEqual(r.dropped, [])
  })
})

