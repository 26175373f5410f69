/**
 * The time bound: a dead-letter copy waits at most DEAD_LETTER_MAX_WAIT_MS. One timer, set for
 * the moment the oldest queued copy has waited that long; the producer then takes the copies
 * that have (takeExpired: from the front of each queue, where the oldest are) and drops them.
 * A copy in a batch in flight is not taken here: it is dropped when that batch's attempt fails
 * (hasWaitedOut), or counted sent when it succeeds.
 */
import type { Copy } from './copy.ts'

export class TimeBound {
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity
  private stopped = false

  constructor(
    readonly maxWaitMs: number,
    /** Called when a copy watched may have waited maxWaitMs. */
    private readonly onDue: () => void,
  ) {}

  /** Check again when a copy queued at `queuedAt` (ms) has waited maxWaitMs (unless a check comes sooner). */
  watch(queuedAt: number): void {
    const at = queuedAt + this.maxWaitMs
    if (this.stopped || at >= this.timerAt) return
    this.clear()
    this.timerAt = at
    this.timer = setTimeout(() => this.onDue(), Math.max(0, at - Date.now()))
    this.timer.unref()
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
  }

  /** No more checks (shutdown). */
  stop(): void {
    this.stopped = true
    this.clear()
  }

  hasWaitedOut(copy: Copy): boolean {
    return Date.now() - copy.at >= this.maxWaitMs
  }

  /**
   * Cut the copies that have waited maxWaitMs from the front of each queue (each in the order
   * queued), in the order of the queues; `oldest`: when the oldest copy left was queued
   * (Infinity when none is).
   */
  takeExpired(queues: Iterable<Copy[]>): { expired: Copy[]; oldest: number } {
    const limit = Date.now() - this.maxWaitMs
    const expired: Copy[] = []
    let oldest = Infinity
    for (const list of queues) {
      let n = 0
      while (n < list.length && list[n]!.at <= limit) n++
      if (n > 0) expired.push(...list.splice(0, n))
      oldest = Math.min(oldest, list[0]?.at ?? Infinity)
    }
    return { expired, oldest }
  }
}
