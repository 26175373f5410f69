/**
 * The circuit breaker: stops consuming while the handler's downstream is down, so that an outage
 * costs only the calls that fail before it opens (docs/design.md, "The circuit breaker").
 *
 *   closed     handler calls start; each downstream failure (a failed or timed-out call) adds to a
 *              run, any success ends it. BREAKER_THRESHOLD failures in a row: open.
 *   open       no call starts and no new commit window is sent; the consumer pauses fetching.
 *              Messages already committed but not started are HELD (not dropped, not started:
 *              they stay at risk). Calls already running finish. After a back-off (doubling from
 *              BREAKER_BACKOFF_MS to BREAKER_BACKOFF_MAX_MS, ±20 % jitter):
 *                - with the handler module's `probe`: the probe runs; success closes, failure
 *                  backs off again;
 *                - without: half-open.
 *   half_open  exactly one call (a held message, or the next) is let through, the trial: its
 *              success closes, a downstream failure opens again (a longer back-off).
 *
 * A failure that is the message's own (MessageRejectedError, code AMO_MESSAGE_REJECTED), an
 * undecodable message and a call abandoned at shutdown neither count nor end a run. Outcomes of
 * calls started before the state last changed are not counted: each call carries the epoch it
 * started in (`callStarted`), and only the epoch of the closed state, or the trial's, counts.
 *
 * Time and randomness are injected (tests drive it with a fake clock).
 */
import type { Logger } from 'pino'
import type { BreakerMetrics } from '../metrics.ts'
import type { Outcome } from '../message/process.ts'

export type BreakerState = 'closed' | 'open' | 'half_open'
export const BREAKER_STATES: readonly BreakerState[] = ['closed', 'open', 'half_open']

export interface BreakerClock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const realClock: BreakerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
}

export interface BreakerOptions {
  /** Downstream failures in a row that open it (BREAKER_THRESHOLD, ≥ 1). */
  threshold: number
  /** The first back-off (BREAKER_BACKOFF_MS). */
  backoffMs: number
  /** The longest back-off (BREAKER_BACKOFF_MAX_MS). */
  backoffMaxMs: number
  /** The handler module's probe, bounded by the caller; resolves when the downstream answers, rejects when not. */
  probe?: (() => Promise<void>) | undefined
  /** Committed messages not yet processed, across partitions (held while open), for the log lines. */
  held: () => number
  log: Logger
  metrics: BreakerMetrics
  clock?: BreakerClock
  random?: () => number
}

/** What the batch loops ask of the breaker (a CircuitBreaker, or ALWAYS_CLOSED when BREAKER_THRESHOLD=0). */
export interface Admission {
  readonly closed: boolean
  readonly state: BreakerState
  /** May a handler call start now? (Half-open: true once, for the trial.) */
  admit(): boolean
  /** May a new commit window be sent now? (Half-open: while the trial is not taken.) */
  maySend(): boolean
  /** Called on every state change; returns the way to stop listening. */
  onChange(listener: (state: BreakerState) => void): () => void
}

/** No breaker (BREAKER_THRESHOLD=0): always closed. */
export const ALWAYS_CLOSED: Admission = {
  closed: true,
  state: 'closed',
  admit: () => true,
  maySend: () => true,
  onChange: () => () => undefined,
}

/** How many error texts the open line carries at most. */
const ERRORS_KEPT = 5

export class CircuitBreaker implements Admission {
  private current: BreakerState = 'closed'
  /** Changes with every state change; a call counts only in the epoch it started in. */
  private epoch = 0
  /** Downstream failures in a row (closed). */
  private failures = 0
  /** The errors of that run (the last few). */
  private errors: string[] = []
  /** Back-offs since it opened: the next one is BREAKER_BACKOFF_MS × 2^n. */
  private attempts = 0
  private openedAt = 0
  private trialTaken = false
  private trialEpoch = -1
  private probes = 0
  private timer: unknown
  private stopped = false
  private readonly listeners = new Set<(state: BreakerState) => void>()
  private readonly clock: BreakerClock
  private readonly random: () => number

  constructor(private readonly o: BreakerOptions) {
    this.clock = o.clock ?? realClock
    this.random = o.random ?? Math.random
    o.metrics.setState('closed')
  }

  get state(): BreakerState {
    return this.current
  }

  get closed(): boolean {
    return this.current === 'closed'
  }

  /** Since when it is not closed (ms since the epoch), or 0. */
  get openSince(): number {
    return this.current === 'closed' ? 0 : this.openedAt
  }

  /** Called on every state change (the consumer pauses or resumes fetching; dispatchers wake). */
  onChange(listener: (state: BreakerState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** May a handler call start now? Closed: yes. Open: no. Half-open: yes once — the trial. */
  admit(): boolean {
    if (this.current === 'closed') return true
    if (this.current === 'open' || this.trialTaken) return false
    this.trialTaken = true
    this.epoch++
    this.trialEpoch = this.epoch
    return true
  }

  /**
   * May a new commit window be sent? Closed: yes. Open: no. Half-open: while the trial is not
   * taken (a partition with nothing committed needs a window for its trial message; what else it
   * covers is held, within COMMIT_WINDOW, as any committed window).
   */
  maySend(): boolean {
    if (this.current === 'closed') return true
    return this.current === 'half_open' && !this.trialTaken
  }

  /** A handler call starts: its epoch, to hand back with its outcome. */
  callStarted(): number {
    return this.epoch
  }

  /** A handler call ended with `outcome` (`error`: what failed, for the open line). */
  callFinished(epoch: number, outcome: Outcome, error?: unknown): void {
    if (this.stopped || epoch !== this.epoch) return
    const downstream = outcome === 'failed'
    const success = outcome === 'ok'
    if (this.current === 'half_open') {
      if (epoch !== this.trialEpoch) return
      if (success) this.close()
      else if (downstream) this.open(error)
      else {
        // The trial never reached the downstream (rejected, undecodable, abandoned): the next message is the trial.
        this.trialTaken = false
        this.tell()
      }
      return
    }
    if (this.current !== 'closed') return
    if (success) {
      this.failures = 0
      this.errors = []
    } else if (downstream) {
      this.failures++
      this.errors.push(errorText(error))
      if (this.errors.length > ERRORS_KEPT) this.errors.shift()
      if (this.failures >= this.o.threshold) this.open(error)
    }
  }

  /** Shutdown: no more probes or trials; the state stays as it is. */
  stop(): void {
    this.stopped = true
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  private open(error: unknown): void {
    const reopened = this.current === 'half_open'
    if (!reopened) {
      this.openedAt = this.clock.now()
      this.attempts = 0
      this.probes = 0
      this.o.metrics.opened()
      this.o.log.warn(
        { failures: this.failures, errors: this.errors, held: this.o.held(), nextTryInMs: this.backoff(0), probe: this.o.probe !== undefined },
        `circuit breaker open: the handler's downstream failed ${this.failures} times in a row; consumption paused (nothing more is committed)`,
      )
    } else {
      this.o.log.debug({ error: errorText(error) }, 'circuit breaker: the trial call failed; open again')
    }
    this.set('open')
    this.schedule()
  }

  private close(): void {
    const openMs = this.clock.now() - this.openedAt
    this.failures = 0
    this.errors = []
    const held = this.o.held()
    this.set('closed')
    this.o.log.info({ openMs, held, probes: this.probes }, `circuit breaker closed after ${openMs} ms: consuming again, the ${held} held messages first`)
  }

  private set(state: BreakerState): void {
    this.current = state
    this.epoch++
    this.trialTaken = false
    this.o.metrics.setState(state)
    this.tell()
  }

  private tell(): void {
    for (const l of [...this.listeners]) l(this.current)
  }

  /** The back-off before attempt `n` (0-based) since it opened, jittered ±20 %. */
  private backoff(n: number): number {
    const base = Math.min(this.o.backoffMaxMs, this.o.backoffMs * 2 ** n)
    return Math.round(base * (0.8 + this.random() * 0.4))
  }

  private schedule(): void {
    if (this.stopped) return
    const wait = this.backoff(this.attempts++)
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      if (this.stopped || this.current !== 'open') return
      if (this.o.probe) void this.probe(this.o.probe)
      else this.set('half_open')
    }, wait)
  }

  private async probe(probe: () => Promise<void>): Promise<void> {
    this.probes++
    let ok: boolean
    try {
      await probe()
      ok = true
    } catch (err) {
      ok = false
      this.o.log.debug({ error: errorText(err), probes: this.probes }, 'circuit breaker: the probe failed; still open')
    }
    this.o.metrics.probed(ok)
    if (this.stopped || this.current !== 'open') return
    if (ok) this.close()
    else this.schedule()
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return err === undefined ? 'handler failed' : String(err)
}
