/**
 * The copies bound for one partition of the dead-letter topic, and its one batch in flight. A
 * batch takes up to BATCH_MAX_COPIES copies or BATCH_MAX_BYTES from the front of the queue and
 * is kept, unchanged, until it is settled (sent, rejected or dropped), so that a batch sent again
 * keeps the idempotent producer's sequence numbers right. After a batch was rejected for what may
 * be one record's fault, its copies are sent one per request.
 */
import type { Copy } from './copy.ts'

/** A produce request carries at most this many copies, or this many bytes (below the broker's default message.max.bytes of 1 MiB). */
const BATCH_MAX_COPIES = 500
const BATCH_MAX_BYTES = 512 * 1024

export class PartitionQueue {
  readonly copies: Copy[] = []
  /** The batch being sent; kept (and sent again, unchanged) until it is settled. */
  inFlight: Copy[] | undefined = undefined
  /** Its pump is scheduled or running. */
  running = false
  /** Its last attempt failed for a reason that can pass (or a sequence error): the trouble episode is not over. */
  failing = false
  /** Copies still to be sent one per request (after a batch was rejected for a record's fault). */
  private solo = 0

  constructor(readonly partition: number) {}

  /** Something to send: a batch in flight or copies queued. */
  get busy(): boolean {
    return this.inFlight !== undefined || this.copies.length > 0
  }

  /** The batch to send: the one in flight (again), else the next one taken from the queue; undefined when nothing is queued. */
  nextBatch(): Copy[] | undefined {
    const batch = (this.inFlight ??= this.takeBatch())
    if (batch.length > 0) return batch
    this.inFlight = undefined
    return undefined
  }

  /** The batch is done with (sent, rejected or dropped). */
  settle(batch: Copy[]): void {
    if (this.inFlight === batch) this.inFlight = undefined
  }

  /** The batch was rejected for what may be one copy's fault (too large, invalid): send its copies one by one. */
  sendOneByOne(batch: Copy[]): void {
    this.inFlight = undefined
    this.copies.unshift(...batch)
    this.solo = batch.length
  }

  private takeBatch(): Copy[] {
    if (this.solo > 0) {
      this.solo--
      return this.copies.splice(0, 1)
    }
    let n = 0
    let bytes = 0
    while (n < this.copies.length && n < BATCH_MAX_COPIES) {
      const next = this.copies[n]!.bytes
      if (n > 0 && bytes + next > BATCH_MAX_BYTES) break
      bytes += next
      n++
    }
    return this.copies.splice(0, n)
  }
}
