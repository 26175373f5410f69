/**
 * The memory bound: the dead-letter copies queued or in flight take at most
 * DEAD_LETTER_MAX_QUEUED_BYTES, each counted by sizeOf (copy.ts: key, value and header bytes plus
 * COPY_OVERHEAD_BYTES); a copy that does not fit is dropped by the producer. Counts the copies
 * too, and tells the shutdown flush when none is left.
 */
import type { Copy } from './copy.ts'

export class MemoryBound {
  private queuedBytes = 0
  private queuedCopies = 0
  private idleWaiters: Array<() => void> = []

  constructor(readonly maxQueuedBytes: number) {}

  /** Copies queued or in flight. */
  get copies(): number {
    return this.queuedCopies
  }

  /** Their bytes, as counted against DEAD_LETTER_MAX_QUEUED_BYTES. */
  get bytes(): number {
    return this.queuedBytes
  }

  /** Whether the copy fits beside those queued or in flight. */
  admits(copy: Copy): boolean {
    return this.queuedBytes + copy.bytes <= this.maxQueuedBytes
  }

  add(copy: Copy): void {
    this.queuedBytes += copy.bytes
    this.queuedCopies++
  }

  /** The copies are done with (sent, rejected or dropped): release their bytes. */
  release(copies: Copy[]): void {
    for (const c of copies) this.queuedBytes -= c.bytes
    this.queuedCopies -= copies.length
    if (this.queuedCopies === 0) this.notifyIdle()
  }

  /** Every copy is given up at once (shutdown). */
  clear(): void {
    this.queuedBytes = 0
    this.queuedCopies = 0
  }

  /** Resolves when no copy is queued or in flight any more. */
  idle(): Promise<void> {
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  /** Wake those waiting for idle() if no copy is left. */
  notifyIdle(): void {
    if (this.queuedCopies > 0) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }
}
