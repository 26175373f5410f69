/**
 * src/consumer/breaker.ts on a fake clock: the states (closed, open, half-open), what counts as the
 * downstream's failure, the back-off (doubling, bounded, jittered), the probe and the trial, the
 * lines it logs and its metrics. No broker, no timers of its own.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { CircuitBreaker, type BreakerClock, type BreakerState } from '../src/consumer/breaker.ts'
import { MessageRejectedError } from '../src/errors.ts'
import { createMetrics } from '../src/metrics.ts'
import { memoryLog } from './support/memory-log.ts'
import { seriesValue } from './support/metric-text.ts'

/** A clock whose timers run only when `advance` passes their time. */
class FakeClock implements BreakerClock {
  t = 1_000_000
  private timers: Array<{ at: number; fn: () => void; id: number }> = []
  private ids = 0
  /** The delay of every timer set, in order. */
  readonly delays: number[] = []
  now(): number {
    return this.t
  }
  setTimeout(fn: () => void, ms: number): unknown {
    this.delays.push(ms)
    const id = ++this.ids
    this.timers.push({ at: this.t + ms, fn, id })
    return id
  }
  clearTimeout(id: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== id)
  }
  get pending(): number {
    return this.timers.length
  }
  /** Move time on, running due timers (and the promise jobs they start) in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0]
      if (!due) break
      this.timers = this.timers.filter((x) => x !== due)
      this.t = due.at
      due.fn()
      for (let i = 0; i < 10; i++) await Promise.resolve()
    }
    this.t = end
  }
}

function setup(o: { threshold?: number; probe?: () => Promise<void>; held?: number } = {}) {
  const registry = new Registry()
  const metrics = createMetrics(registry, { defaultMetrics: false, commitMode: 'sync' })
  const { log, lines } = memoryLog()
  const clock = new FakeClock()
  const breaker = new CircuitBreaker({
    threshold: o.threshold ?? 3,
    backoffMs: 1000,
    backoffMaxMs: 5000,
    probe: o.probe,
    held: () => o.held ?? 0,
    log,
    metrics: metrics.breaker,
    clock,
    random: () => 0.5, // no jitter: the back-off is exact
  })
  const states: BreakerState[] = []
  breaker.onChange((s) => states.push(s))
  /** A call that starts now and ends with `outcome`. */
  const call = (outcome: 'ok' | 'failed' | 'rejected' | 'skipped' | 'abandoned', error?: unknown) => breaker.callFinished(breaker.callStarted(), outcome, error)
  const text = () => registry.metrics()
  return { breaker, clock, lines, states, call, text }
}

describe('circuit breaker: closed', () => {
  it('opens after BREAKER_THRESHOLD downstream failures in a row (failed or timed out), with one warn line naming them', async () => {
    const t = setup({ held: 4 })
    t.call('failed', new Error('connect ECONNREFUSED'))
    t.call('failed', new Error('503 Service Unavailable'))
    assert.equal(t.breaker.state, 'closed')
    t.call('failed', new Error('503 Service Unavailable'))
    assert.equal(t.breaker.state, 'open')
    assert.deepEqual(t.states, ['open'])
    const warn = t.lines.filter((l) => l.level === 40)
    assert.equal(warn.length, 1)
    assert.match(String(warn[0]!.msg), /circuit breaker open/)
    assert.equal(warn[0]!.failures, 3)
    assert.equal(warn[0]!.held, 4)
    assert.deepEqual(warn[0]!.errors, ['Error: connect ECONNREFUSED', 'Error: 503 Service Unavailable', 'Error: 503 Service Unavailable'])
    const text = await t.text()
    assert.equal(seriesValue(text, 'consumer_breaker_opened_total'), 1)
    assert.equal(seriesValue(text, 'consumer_breaker_state', { state: 'open' }), 1)
    assert.equal(seriesValue(text, 'consumer_breaker_state', { state: 'closed' }), 0)
  })
  it('a success ends the run; the message\'s own failures, undecodable messages and shutdown abandons neither count nor end it', () => {
    const t = setup()
    t.call('failed')
    t.call('failed')
    t.call('ok')
    t.call('failed')
    t.call('failed')
    assert.equal(t.breaker.state, 'closed', 'the run started again after the success')
    for (const neutral of ['rejected', 'skipped', 'abandoned'] as const) t.call(neutral, new MessageRejectedError('bad'))
    assert.equal(t.breaker.state, 'closed')
    t.call('failed')
    assert.equal(t.breaker.state, 'open', 'the neutral outcomes did not end the run either')
  })
  it('every series exists from the first scrape', async () => {
    const text = await setup().text()
    assert.equal(seriesValue(text, 'consumer_breaker_state', { state: 'closed' }), 1)
    assert.equal(seriesValue(text, 'consumer_breaker_state', { state: 'half_open' }), 0)
    assert.equal(seriesValue(text, 'consumer_breaker_opened_total'), 0)
    assert.equal(seriesValue(text, 'consumer_breaker_open_seconds_total'), 0)
    assert.equal(seriesValue(text, 'consumer_breaker_probes_total', { result: 'failed' }), 0)
  })
})

describe('circuit breaker: open', () => {
  it('nothing starts and no window is sent; outcomes of calls started before it opened change nothing', () => {
    const t = setup()
    const before = t.breaker.callStarted()
    for (let i = 0; i < 3; i++) t.call('failed')
    assert.equal(t.breaker.admit(), false)
    assert.equal(t.breaker.maySend(), false)
    t.breaker.callFinished(before, 'ok')
    assert.equal(t.breaker.state, 'open', 'a call in flight when it opened does not close it')
  })
  it('with a probe: probes after each back-off, doubling up to BREAKER_BACKOFF_MAX_MS; closes on the first success, held messages counted in the info line', async () => {
    let up = false
    let probes = 0
    const t = setup({
      held: 7,
      probe: async () => {
        probes++
        if (!up) throw new Error('ECONNREFUSED')
      },
    })
    for (let i = 0; i < 3; i++) t.call('failed')
    await t.clock.advance(999)
    assert.equal(probes, 0, 'not before the first back-off')
    await t.clock.advance(1 + 2000 + 4000 + 5000 + 5000)
    assert.equal(probes, 5)
    assert.deepEqual(t.clock.delays, [1000, 2000, 4000, 5000, 5000, 5000], 'doubling, bounded by the maximum')
    assert.equal(t.breaker.state, 'open')
    up = true
    await t.clock.advance(5000)
    assert.equal(t.breaker.state, 'closed')
    assert.deepEqual(t.states, ['open', 'closed'], 'a probe never goes through half-open')
    const info = t.lines.find((l) => /circuit breaker closed/.test(String(l.msg)))!
    assert.equal(info.openMs, 1000 + 2000 + 4000 + 5000 + 5000 + 5000)
    assert.equal(info.held, 7)
    assert.equal(info.probes, 6)
    assert.equal(t.lines.filter((l) => Number(l.level) >= 40).length, 1, 'one warn line for the whole outage')
    const text = await t.text()
    assert.equal(seriesValue(text, 'consumer_breaker_probes_total', { result: 'failed' }), 5)
    assert.equal(seriesValue(text, 'consumer_breaker_probes_total', { result: 'ok' }), 1)
    assert.equal(t.breaker.admit(), true)
  })
  it('back-off jitter stays within ±20 %', () => {
    for (const r of [0, 0.25, 0.999]) {
      const registry = new Registry()
      const metrics = createMetrics(registry, { defaultMetrics: false, commitMode: 'sync' })
      const clock = new FakeClock()
      const b = new CircuitBreaker({ threshold: 1, backoffMs: 1000, backoffMaxMs: 5000, held: () => 0, log: memoryLog().log, metrics: metrics.breaker, clock, random: () => r })
      b.callFinished(b.callStarted(), 'failed')
      const d = clock.delays[0]!
      assert.ok(d >= 800 && d <= 1200, `random ${r}: ${d}`)
    }
  })
  it('stop(): no more probes', async () => {
    let probes = 0
    const t = setup({ probe: async () => void probes++ })
    for (let i = 0; i < 3; i++) t.call('failed')
    t.breaker.stop()
    await t.clock.advance(60_000)
    assert.equal(probes, 0)
    assert.equal(t.clock.pending, 0)
  })
})

describe('circuit breaker: half-open (no probe)', () => {
  it('after the back-off exactly one call is let through; its success closes', async () => {
    const t = setup()
    for (let i = 0; i < 3; i++) t.call('failed')
    await t.clock.advance(1000)
    assert.equal(t.breaker.state, 'half_open')
    assert.equal(t.breaker.maySend(), true, 'a window for the trial')
    assert.equal(t.breaker.admit(), true, 'the trial')
    const trial = t.breaker.callStarted()
    assert.equal(t.breaker.admit(), false, 'exactly one')
    assert.equal(t.breaker.maySend(), false)
    t.breaker.callFinished(trial, 'ok')
    assert.equal(t.breaker.state, 'closed')
    assert.deepEqual(t.states, ['open', 'half_open', 'closed'])
  })
  it('a failed trial opens it again, with the next (longer) back-off', async () => {
    const t = setup()
    for (let i = 0; i < 3; i++) t.call('failed')
    await t.clock.advance(1000)
    t.breaker.admit()
    t.breaker.callFinished(t.breaker.callStarted(), 'failed', new Error('still down'))
    assert.equal(t.breaker.state, 'open')
    assert.deepEqual(t.clock.delays, [1000, 2000])
    assert.equal(t.lines.filter((l) => l.level === 40).length, 1, 'no second warn line: it was open all along')
  })
  it('a trial that never reached the downstream (rejected, undecodable) hands the trial to the next message', async () => {
    const t = setup()
    for (let i = 0; i < 3; i++) t.call('failed')
    await t.clock.advance(1000)
    assert.equal(t.breaker.admit(), true)
    t.breaker.callFinished(t.breaker.callStarted(), 'rejected')
    assert.equal(t.breaker.state, 'half_open')
    assert.equal(t.breaker.admit(), true, 'the next message is the trial')
  })
  it('time spent open is counted as it passes, also before it closes', async () => {
    const t = setup()
    for (let i = 0; i < 3; i++) t.call('failed')
    // The counter uses the wall clock: it is read, not asserted to the millisecond.
    await new Promise((r) => setTimeout(r, 30))
    const open = seriesValue(await t.text(), 'consumer_breaker_open_seconds_total')!
    assert.ok(open > 0, `${open} s counted while still open`)
  })
})
