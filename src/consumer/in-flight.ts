/**
 * MAX_IN_FLIGHT: handler calls in flight in the whole process, across partitions, so that a
 * burst (many partitions, a large COMMIT_WINDOW, key or unordered order) can exhaust neither
 * memory nor the downstream system. A freed slot is handed straight to the oldest waiter, so a
 * waiting partition cannot be overtaken forever.
 */
export class InFlightLimiter {
  /** Slots held now (the consumer_handler_calls_in_flight gauge). */
  count = 0
  private readonly waiters: Array<() => void> = []

  constructor(readonly max: number) {}

  /** Take a slot if one is free. */
  tryAcquire(): boolean {
    if (this.count >= this.max) return false
    this.count++
    return true
  }

  /** Resolves once a slot is held by the caller. */
  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve()
    return new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  release(): void {
    const next = this.waiters.shift()
    if (next) next() // the slot passes to the waiter: count unchanged
    else this.count--
  }
}
