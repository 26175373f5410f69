/**
 * What may start a handler call now, across partitions, in every mode:
 *
 *  - MAX_IN_FLIGHT: handler calls in flight in the whole process, so that a burst (many
 *    partitions, a large COMMIT_WINDOW, key or unordered order) can exhaust neither memory nor the
 *    downstream system.
 *  - MAX_CALLS_PER_SECOND (0: off): handler calls started per second, for a downstream with a
 *    quota. Smooth, not a burst each second: calls start 1/rate apart on average, never more than
 *    two at once after an idle stretch; over any stretch of time the rate is the limit.
 *
 * A freed slot goes to the oldest waiter (as soon as the rate allows), so a waiting partition
 * cannot be overtaken forever: a caller never gets a slot ahead of one already waiting.
 */

export interface RateLimit {
  /** Calls started per second; 0: no limit. */
  perSecond: number
  /** A call had to wait for the rate (consumer_handler_calls_delayed_total). */
  onDelayed?: () => void
  /** The clock, in ms (tests). */
  now?: () => number
}

interface Waiter {
  grant: () => void
  /** Counted as delayed by the rate already. */
  delayed: boolean
}

export class InFlightLimiter {
  /** Slots held now (the consumer_handler_calls_in_flight gauge). */
  count = 0
  private readonly waiters: Waiter[] = []
  /** ms between two starts; 0: no rate limit. */
  private readonly intervalMs: number
  /** The earliest time (ms) the next call may start, under the rate limit. */
  private nextAt = 0
  private timer: NodeJS.Timeout | undefined
  private readonly now: () => number
  private readonly onDelayed: () => void

  constructor(
    readonly max: number,
    rate: RateLimit = { perSecond: 0 },
  ) {
    this.intervalMs = rate.perSecond > 0 ? 1000 / rate.perSecond : 0
    this.now = rate.now ?? (() => performance.now())
    this.onDelayed = rate.onDelayed ?? (() => undefined)
  }

  /** Take a slot if one is free now (and the rate allows a start), and nobody waits for one. */
  tryAcquire(): boolean {
    if (this.count >= this.max || this.waiters.length > 0) return false
    if (this.intervalMs > 0 && !this.rateAllows()) return false
    this.count++
    return true
  }

  /** Resolves once a slot is held by the caller. */
  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve()
    return new Promise<void>((grant) => {
      this.waiters.push({ grant, delayed: false })
      this.pump()
    })
  }

  release(): void {
    this.count--
    if (this.waiters.length > 0) this.pump()
  }

  /** Hand free slots to the oldest waiters, as the rate allows; wait for the rate otherwise. */
  private pump(): void {
    while (this.waiters.length > 0 && this.count < this.max) {
      const head = this.waiters[0]!
      if (this.intervalMs > 0 && !this.rateAllows()) {
        if (!head.delayed) {
          head.delayed = true
          this.onDelayed()
        }
        this.timer ??= setTimeout(() => {
          this.timer = undefined
          this.pump()
        }, Math.max(1, Math.ceil(this.nextAt - this.now())))
        this.timer.unref()
        return
      }
      this.waiters.shift()
      this.count++
      head.grant()
    }
  }

  /** The rate allows a start now: it is taken (the next start moves one interval on). */
  private rateAllows(): boolean {
    const now = this.now()
    if (now < this.nextAt) return false
    // Bank at most one interval: a timer that fired late is made up for (the rate holds over
    // time), an idle stretch allows one extra start at most (no burst).
    this.nextAt = Math.max(this.nextAt, now - this.intervalMs) + this.intervalMs
    return true
  }
}
