/**
 * Fetching paused and resumed, for the two reasons it stops: shutdown (for good) and the circuit
 * breaker (while it is open). While paused for the breaker, consumer_lag is kept true from the
 * brokers' end offsets (paused-lag.ts).
 *
 *   breaker open       pause every subscribed topic: nothing new is fetched, so nothing new is committed
 *   breaker half-open  fetch again, for the trial message (held messages come first)
 *   breaker closed     fetch again; the held messages are the first past each resolved offset
 *   shutdown           pause for good; the breaker changes nothing any more
 */
import type { Admin, Consumer } from 'kafkajs'
import type { Logger } from 'pino'
import type { BreakerState } from './breaker.ts'
import type { Partitions } from './partitions.ts'
import { PausedLag } from './paused-lag.ts'

export class Fetching {
  private readonly lag: PausedLag
  private stopped = false
  private breakerOpen = false

  constructor(
    private readonly consumer: Consumer,
    private readonly topics: readonly string[],
    admin: () => Promise<Admin>,
    partitions: Partitions,
    log: Logger,
  ) {
    this.lag = new PausedLag(admin, topics, partitions, log)
  }

  /** The circuit breaker changed state. */
  breaker(state: BreakerState): void {
    this.breakerOpen = state === 'open'
    if (this.stopped) return
    if (this.breakerOpen) {
      this.pause()
      this.lag.start()
    } else {
      this.lag.stop()
      this.resume()
    }
  }

  /**
   * Pause again if the breaker is open: a consumer restarted after a crash starts unpaused, and a
   * batch fetched before the pause took effect is still handed over.
   */
  keepPaused(): void {
    if (this.breakerOpen || this.stopped) this.pause()
  }

  /** Shutdown: nothing more is fetched. */
  stop(): void {
    this.stopped = true
    this.lag.stop()
    this.pause()
  }

  private pause(): void {
    try {
      this.consumer.pause(this.topics.map((topic) => ({ topic })))
    } catch {
      // not running yet: nothing to pause (each join pauses again while the breaker is open)
    }
  }

  private resume(): void {
    try {
      this.consumer.resume(this.topics.map((topic) => ({ topic })))
    } catch {
      // not running: nothing to resume
    }
  }
}
