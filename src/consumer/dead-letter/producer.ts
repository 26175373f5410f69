/**
 * The dead-letter producer (DEAD_LETTER_TOPIC): a copy of every failed or undecodable message,
 * with x-amo-* headers naming where it came from and why (copy.ts). send() never blocks and never
 * throws: it queues the copy in memory and returns; the copies are sent in the background in
 * batches. This module is the public producer and its pumps; the rest of the directory:
 *
 *   - One queue and one batch in flight per partition of the dead-letter topic
 *     (partition-queue.ts; the partition is chosen as kafkajs's default partitioner would,
 *     topic-partitions.ts). A partition whose leader is down holds back only its own copies, and
 *     every produce request goes to one broker: kafkajs's send() retries a request spanning
 *     several brokers only on the brokers that had not answered, so a partition whose leader moved
 *     to one that had answered would be skipped while send() resolved (kafkajs 2.2.4,
 *     producer/sendMessages.js).
 *   - A batch that fails for a reason that can pass (no leader, a connection lost, a timeout:
 *     produce-errors.ts) is sent again, the same batch, with back-off (backoff.ts), until it is
 *     written or until its newest copy has waited DEAD_LETTER_MAX_WAIT_MS: a leader election costs
 *     a delay, not copies.
 *   - Idempotent producer, replaced when its sequence can no longer be trusted; a plain one where
 *     the cluster grants no producer id (producer-slot.ts).
 *   - Bounds: copies queued or in flight take at most DEAD_LETTER_MAX_QUEUED_BYTES
 *     (memory-bound.ts; a copy that does not fit is dropped), and a copy waits at most
 *     DEAD_LETTER_MAX_WAIT_MS (time-bound.ts; then it is dropped; one in a batch in flight is
 *     dropped when that batch's attempt fails, or when it succeeds counted sent).
 *   - disconnect(flushMs) lets what is queued be sent for up to flushMs, then counts the rest
 *     dropped, with one warn line.
 *
 * consumer_dead_letter_total{result} and the log lines, one warn line per trouble episode:
 * report.ts. A copy given up after an attempt of unknown outcome (a timeout, a connection lost
 * after sending) may nevertheless be in the topic.
 */
import type { Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import { configSchema } from '../../config/schema.ts'
import type { DeadLetterFn } from '../../message/process.ts'
import type { Metrics } from '../../metrics.ts'
import { nextBackoff, sleep } from './backoff.ts'
import { copyOf, type Copy } from './copy.ts'
import { MemoryBound } from './memory-bound.ts'
import { PartitionQueue } from './partition-queue.ts'
import { classify, errorText, isRecordError } from './produce-errors.ts'
import { ReplaceableProducer, type ProducerSlot } from './producer-slot.ts'
import { DeadLetterReport } from './report.ts'
import { TimeBound } from './time-bound.ts'
import { TopicPartitions } from './topic-partitions.ts'

export interface DeadLetterOptions {
  /** DEAD_LETTER_MAX_WAIT_MS: how long a copy may wait for an unreachable topic before it is dropped. */
  maxWaitMs?: number
  /** DEAD_LETTER_MAX_QUEUED_BYTES: what the copies waiting may take in memory; a copy beyond is dropped. */
  maxQueuedBytes?: number
}

export const DEAD_LETTER_DEFAULTS = {
  /**
   * 30 s: a three-node KRaft cluster moves the leaderships of a node that died within
   * broker.session.timeout.ms (9 s) of its last heartbeat, or as soon as the node restarts; a
   * ZooKeeper-mode cluster within zookeeper.session.timeout.ms (18 s). docs/design.md has the
   * measured delays.
   */
  maxWaitMs: configSchema.properties.DEAD_LETTER_MAX_WAIT_MS.default,
  /** 64 MiB: 30 s of ~1,500 failures a second of small (~200-byte) messages, each counted ~1.4 KB. */
  maxQueuedBytes: configSchema.properties.DEAD_LETTER_MAX_QUEUED_BYTES.default,
  /** disconnect()'s default flush budget: fits the 500 ms that shutdown gives its last step. */
  flushMs: 300,
} as const

export class DeadLetterProducer {
  private readonly memory: MemoryBound
  private readonly time: TimeBound
  private readonly report: DeadLetterReport
  private readonly producer: ReplaceableProducer
  private readonly partitions: TopicPartitions
  private readonly queues = new Map<number, PartitionQueue>()
  /** Copies waiting for the topic's partitions to be known. */
  private unassigned: Copy[] = []
  private resolving = false
  private closing = false
  private closingDone: Promise<void> | undefined
  private closed = false

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    metrics: Metrics,
    private readonly log: Logger,
    options: DeadLetterOptions = {},
  ) {
    const maxWaitMs = options.maxWaitMs ?? DEAD_LETTER_DEFAULTS.maxWaitMs
    this.memory = new MemoryBound(options.maxQueuedBytes ?? DEAD_LETTER_DEFAULTS.maxQueuedBytes)
    this.time = new TimeBound(maxWaitMs, () => this.expire())
    this.report = new DeadLetterReport(topic, metrics, log, this.memory, maxWaitMs)
    this.producer = new ReplaceableProducer(kafka, topic, log)
    this.partitions = new TopicPartitions(kafka, topic)
  }

  /** Connect the producer and look up the topic's partitions (a failed look-up is retried when copies come). */
  async connect(): Promise<void> {
    if (this.closing) return
    await this.producer.ready()
    await this.partitions.refresh().catch((err: unknown) =>
      this.log.debug({ deadLetterTopic: this.topic, error: errorText(err) }, 'dead-letter topic partitions not known yet'),
    )
  }

  /**
   * Send what is queued for up to `flushMs`, count what is left as dropped (one warn line), then
   * close the producer. A copy whose send was in flight at that moment is counted dropped even
   * though the broker may still have written it.
   */
  disconnect(flushMs: number = DEAD_LETTER_DEFAULTS.flushMs): Promise<void> {
    this.closingDone ??= this.close(flushMs)
    return this.closingDone
  }

  private async close(flushMs: number): Promise<void> {
    this.closing = true
    if (this.memory.copies > 0 && flushMs > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.memory.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, flushMs)))])
      clearTimeout(timer)
    }
    this.closed = true
    this.time.stop()
    const left = this.memory.copies
    if (left > 0) {
      this.report.droppedAtShutdown(left, this.allQueued(), flushMs)
      this.unassigned = []
      this.queues.clear()
      this.memory.clear()
    }
    this.memory.notifyIdle()
    await Promise.allSettled([this.producer.close(), this.partitions.disconnect()])
  }

  /** Queue a copy of the message for DEAD_LETTER_TOPIC with x-amo-* headers naming where it came from and why. Never blocks, never throws. */
  readonly send: DeadLetterFn = (source, reason, error) => {
    const copy = copyOf(source, reason, error)
    if (this.closed) return this.report.dropped([copy], 'closed')
    if (!this.memory.admits(copy)) return this.report.dropped([copy], 'queue_full')
    this.memory.add(copy)
    this.assign(copy)
    this.time.watch(copy.at)
  }

  /** Copies queued or in flight, and their bytes as counted against DEAD_LETTER_MAX_QUEUED_BYTES. */
  get pending(): { copies: number; bytes: number } {
    return { copies: this.memory.copies, bytes: this.memory.bytes }
  }

  // --- partitions --------------------------------------------------------------------------

  private assign(copy: Copy): void {
    const partition = this.partitions.partitionOf(copy.message)
    if (partition === undefined) {
      this.unassigned.push(copy)
      this.resolvePartitions()
      return
    }
    let q = this.queues.get(partition)
    if (!q) this.queues.set(partition, (q = new PartitionQueue(partition)))
    q.copies.push(copy)
    this.kick(q)
  }

  /** Copies that came before the partitions were known: look them up (with back-off), then queue the copies. */
  private resolvePartitions(): void {
    if (this.resolving || this.closed) return
    this.resolving = true
    void (async () => {
      let backoff = 0
      while (!this.closed && this.unassigned.length > 0 && !this.partitions.known) {
        if (backoff > 0) await sleep(backoff)
        try {
          await this.partitions.refresh()
        } catch (err) {
          this.report.unreachable(err)
          backoff = nextBackoff(backoff)
        }
      }
      this.resolving = false
      if (this.closed || !this.partitions.known) return
      const waiting = this.unassigned
      this.unassigned = []
      for (const copy of waiting) this.assign(copy)
    })()
  }

  // --- sending -----------------------------------------------------------------------------

  /** Start the partition's pump unless it runs; it starts on the next turn of the event loop, so copies queued meanwhile go out together. */
  private kick(q: PartitionQueue): void {
    if (q.running || this.closed || !q.busy) return
    q.running = true
    setImmediate(() => {
      void this.pump(q).finally(() => {
        q.running = false
        this.kick(q)
      })
    })
  }

  /** Send the partition's copies, one batch at a time, until its queue is empty. */
  private async pump(q: PartitionQueue): Promise<void> {
    let backoff = 0
    while (!this.closed && q.busy) {
      if (backoff > 0) await sleep(backoff)
      if (this.closed) return
      const batch = q.nextBatch()
      if (!batch) continue
      let slot: ProducerSlot | undefined
      let error: unknown
      let ok = false
      try {
        slot = await this.producer.ready()
        this.producer.sendStarted(slot)
        await slot.producer.send({
          topic: this.topic,
          acks: -1,
          messages: batch.map((c) => ({ ...c.message, partition: q.partition })),
        })
        ok = true
      } catch (err) {
        error = err
      } finally {
        if (slot) this.producer.sendEnded(slot)
      }
      // Closed meanwhile: disconnect() has counted this batch (dropped).
      if (this.closed) return
      if (ok) {
        backoff = 0
        this.sent(q, batch)
        continue
      }
      const kind = classify(error)
      if (kind === 'duplicate') {
        // The broker already has this batch (an earlier attempt was written): sent. kafkajs has
        // rolled its sequence back, so the producer is replaced before the next batch.
        if (slot) this.producer.replace(slot, error)
        this.sent(q, batch)
        continue
      }
      if (kind === 'rejected') {
        backoff = 0
        if (batch.length > 1 && isRecordError(error)) {
          // One copy of the batch may be at fault (too large, invalid): send them one by one.
          q.sendOneByOne(batch)
          continue
        }
        this.settle(q, batch)
        this.report.failed(batch, error)
        continue
      }
      q.failing = true
      if (kind === 'sequence') {
        // Not the copies' fault and not the topic's: a new producer id, then the same batch again.
        if (slot) this.producer.replace(slot, error)
      } else {
        this.report.unreachable(error)
      }
      const newest = batch[batch.length - 1]!
      if (this.time.hasWaitedOut(newest)) {
        // Given up after an attempt whose outcome is unknown: the next batch must not reuse its
        // sequence numbers (the broker would take it for this one), so a new producer id.
        this.settle(q, batch)
        this.report.dropped(batch, 'max_wait')
        if (slot) this.producer.replace(slot, error)
        this.expire()
        backoff = 0
        continue
      }
      backoff = nextBackoff(backoff)
    }
  }

  private sent(q: PartitionQueue, batch: Copy[]): void {
    this.settle(q, batch)
    q.failing = false
    this.report.sent(batch.length, () => this.troubled())
  }

  /** The batch is done with (sent, rejected or dropped): release its bytes. */
  private settle(q: PartitionQueue, batch: Copy[]): void {
    q.settle(batch)
    this.memory.release(batch)
  }

  /** The trouble episode is not over: a partition is failing, or copies wait for the partitions to be known. */
  private troubled(): boolean {
    if (this.unassigned.length > 0) return true
    for (const q of this.queues.values()) if (q.failing) return true
    return false
  }

  // --- the time bound ----------------------------------------------------------------------

  /** Drop the queued copies (not those in flight) that have waited DEAD_LETTER_MAX_WAIT_MS; schedule the next check. */
  private expire(): void {
    this.time.clear()
    if (this.closed) return
    const { expired, oldest } = this.time.takeExpired(this.waiting())
    if (expired.length > 0) {
      this.memory.release(expired)
      this.report.dropped(expired, 'max_wait')
    }
    if (oldest !== Infinity) this.time.watch(oldest)
  }

  /** The copies not in flight: those waiting for the partitions, then each partition's queue. */
  private *waiting(): Generator<Copy[]> {
    yield this.unassigned
    for (const q of this.queues.values()) yield q.copies
  }

  private *allQueued(): Generator<Copy> {
    yield* this.unassigned
    for (const q of this.queues.values()) {
      if (q.inFlight) yield* q.inFlight
      yield* q.copies
    }
  }
}
