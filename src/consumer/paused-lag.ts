/**
 * consumer_lag while fetching is paused (the circuit breaker open). The lag is the high watermark
 * of a partition's last fetched batch minus the next offset to process; a paused partition fetches
 * nothing, so the backlog an outage builds would not show. While paused, the end offsets are read
 * from the brokers (the admin client) every REFRESH_MS instead, and each held partition's lag set
 * from them. A failed read is logged at debug and tried again at the next turn.
 */
import type { Admin } from 'kafkajs'
import type { Logger } from 'pino'
import type { Partitions } from './partitions.ts'

const REFRESH_MS = 5000

export class PausedLag {
  private timer: NodeJS.Timeout | undefined
  private running = false

  constructor(
    private readonly admin: () => Promise<Admin>,
    private readonly topics: readonly string[],
    private readonly partitions: Partitions,
    private readonly log: Logger,
  ) {}

  /** Fetching was paused: read the end offsets now and every REFRESH_MS until stop(). */
  start(): void {
    if (this.running) return
    this.running = true
    void this.tick()
  }

  stop(): void {
    this.running = false
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private async tick(): Promise<void> {
    try {
      const admin = await this.admin()
      for (const topic of this.topics) {
        if (!this.running) return
        for (const { partition, high } of await admin.fetchTopicOffsets(topic)) {
          const p = this.partitions.find(topic, partition)
          if (p && p.next >= 0) p.setLag(high)
        }
      }
    } catch (err) {
      this.log.debug({ error: (err as Error).message }, 'the end offsets could not be read for consumer_lag while paused')
    }
    if (!this.running) return
    this.timer = setTimeout(() => void this.tick(), REFRESH_MS)
    this.timer.unref()
  }
}
