/**
 * The dead-letter producer (DEAD_LETTER_TOPIC): a copy of every failed or undecodable message,
 * with x-amo-* headers naming where it came from and why. send() never blocks and never throws:
 * it queues the copy in memory and returns; the copies are sent in the background in batches.
 *
 *   - One queue and one batch in flight per partition of the dead-letter topic (the partition is
 *     chosen here, as kafkajs's default partitioner would: murmur2 of the key, else round robin).
 *     A partition whose leader is down holds back only its own copies, and every produce request
 *     goes to one broker: kafkajs's send() retries a request spanning several brokers only on the
 *     brokers that had not answered, so a partition whose leader moved to one that had answered
 *     would be skipped while send() resolved (kafkajs 2.2.4, producer/sendMessages.js).
 *   - A batch that fails for a reason that can pass (no leader, a connection lost, a timeout) is
 *     sent again, the same batch, with back-off, until it is written or until its newest copy has
 *     waited DEAD_LETTER_MAX_WAIT_MS: a leader election costs a delay, not copies.
 *   - Idempotent producer: a batch sent again after its first attempt was written but not answered
 *     (the leader died in between) is recognised by the broker (producer id and sequence number)
 *     and not written twice. When the producer's sequence can no longer be trusted (a batch given
 *     up after an attempt of unknown outcome, or a sequence error from the broker) the producer is
 *     replaced by a new one (a new producer id); only then can a copy appear twice. A cluster that
 *     grants no producer id gets a plain producer instead (one warn line; duplicates possible).
 *   - Bounds: copies queued or in flight take at most DEAD_LETTER_MAX_QUEUED_BYTES (key, value and
 *     header bytes plus COPY_OVERHEAD_BYTES each; a copy that does not fit is dropped), and a copy
 *     waits at most DEAD_LETTER_MAX_WAIT_MS (then it is dropped; one in a batch in flight is
 *     dropped when that batch's attempt fails, or when it succeeds counted sent).
 *   - disconnect(flushMs) lets what is queued be sent for up to flushMs, then counts the rest
 *     dropped, with one warn line.
 *
 * consumer_dead_letter_total{result}, each copy counted once: `sent` when the broker acknowledged
 * it (acks=all); `failed` when the broker rejected it for good (too large, not authorised, ...:
 * sending it again cannot help); `dropped` when it was given up unacknowledged: no room (memory
 * bound), waited too long (time bound), still queued at shutdown, or sent after it. A copy given
 * up after an attempt of unknown outcome (a timeout, a connection lost after sending) may
 * nevertheless be in the topic.
 * Logs: one warn line when trouble starts (and one more the first time an episode drops or has
 * copies rejected), one info line with the episode's totals when copies flow again; the copies
 * themselves only at debug.
 */
import { Partitioners, type Admin, type IHeaders, type Kafka, type Message, type PartitionMetadata, type Producer } from 'kafkajs'
import type { Logger } from 'pino'
import { configSchema } from '../config/schema.ts'
import type { DeadLetterFn } from '../message/process.ts'
import type { Metrics } from '../metrics.ts'

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

/**
 * Bytes counted per copy on top of its key, value and headers: its objects, strings and buffer
 * headers in the heap (measured on Node 24: ~900 bytes of RSS beyond the payload for a copy of a
 * 200-byte message with the five x-amo-* headers).
 */
export const COPY_OVERHEAD_BYTES = 1024
/** A produce request carries at most this many copies, or this many bytes (below the broker's default message.max.bytes of 1 MiB). */
const BATCH_MAX_COPIES = 500
const BATCH_MAX_BYTES = 512 * 1024
/** Back-off between two attempts of a failing batch (or metadata look-up). */
const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 2000
/** Partitions of the dead-letter topic are looked up again this often (new partitions get copies). */
const METADATA_MAX_AGE_MS = 5 * 60_000
/** Errors after which the producer's sequence numbers cannot be trusted: a new producer id is needed. */
const SEQUENCE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_ID_MAPPING'])
/** Rejections that may be one record's fault rather than the whole batch's. */
const RECORD_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE'])

type DropReason = 'queue_full' | 'max_wait' | 'shutdown' | 'closed'

interface Copy {
  message: Message
  bytes: number
  /** When send() queued it (ms). */
  at: number
  source: { topic: string; partition: number; offset: string }
}

interface PartitionQueue {
  partition: number
  copies: Copy[]
  /** The batch being sent; kept (and sent again, unchanged) until it is settled. */
  inFlight: Copy[] | undefined
  running: boolean
  failing: boolean
  /** Copies still to be sent one per request (after a batch was rejected for a record's fault). */
  solo: number
}

/** One kafkajs producer; replaced (retired) when its sequence numbers cannot be trusted. */
interface ProducerSlot {
  producer: Producer
  idempotent: boolean
  connected: boolean
  connecting: Promise<void> | undefined
  sends: number
  retired: boolean
}

interface Episode {
  since: number
  sent: number
  dropped: number
  failed: number
  loggedDrop: boolean
  loggedFail: boolean
  unreachable: boolean
}

export class DeadLetterProducer {
  private readonly maxWaitMs: number
  private readonly maxQueuedBytes: number
  private slot: ProducerSlot
  /** Idempotent producers until the cluster refuses a producer id (then plain ones). */
  private idempotent = true
  private readonly queues = new Map<number, PartitionQueue>()
  /** Copies waiting for the topic's partitions to be known. */
  private unassigned: Copy[] = []
  private resolving = false
  private partitionMeta: PartitionMetadata[] | undefined
  private metaAt = 0
  private metaRefresh: Promise<void> | undefined
  private admin: Admin | undefined
  private adminConnected = false
  private readonly partitioner = Partitioners.DefaultPartitioner()
  private queuedBytes = 0
  private queuedCopies = 0
  private expiryTimer: NodeJS.Timeout | undefined
  private expiryAt = Infinity
  private episode: Episode | undefined
  private closing = false
  private closingDone: Promise<void> | undefined
  private closed = false
  private idleWaiters: Array<() => void> = []

  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    options: DeadLetterOptions = {},
  ) {
    this.maxWaitMs = options.maxWaitMs ?? DEAD_LETTER_DEFAULTS.maxWaitMs
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEAD_LETTER_DEFAULTS.maxQueuedBytes
    this.slot = this.newSlot()
  }

  /** Connect the producer and look up the topic's partitions (a failed look-up is retried when copies come). */
  async connect(): Promise<void> {
    if (this.closing) return
    await this.readySlot()
    await this.refreshPartitions().catch((err: unknown) =>
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
    if (this.queuedCopies > 0 && flushMs > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, flushMs))),
      ])
      clearTimeout(timer)
    }
    this.closed = true
    this.clearExpiry()
    const left = this.queuedCopies
    if (left > 0) {
      this.metrics.deadLetter.inc({ result: 'dropped' }, left)
      this.log.warn({ deadLetterTopic: this.topic, dropped: left, flushMs }, 'dead-letter copies dropped at shutdown: not sent within the flush budget')
      for (const copy of this.allQueued()) this.debugCopy(copy, 'dropped', 'shutdown')
      this.unassigned = []
      this.queues.clear()
      this.queuedBytes = 0
      this.queuedCopies = 0
    }
    this.notifyIdle()
    await Promise.allSettled([this.slot.producer.disconnect(), this.admin?.disconnect()])
  }

  /** Queue a copy of the message for DEAD_LETTER_TOPIC with x-amo-* headers naming where it came from and why. Never blocks, never throws. */
  readonly send: DeadLetterFn = ({ topic, partition, message }, reason, error) => {
    const source = { topic, partition, offset: message.offset }
    const headers: IHeaders = {
      ...copyHeaders(message.headers),
      'x-amo-source-topic': topic,
      'x-amo-source-partition': String(partition),
      'x-amo-source-offset': message.offset,
      'x-amo-reason': reason,
      'x-amo-error': error instanceof Error ? error.message : String(error),
    }
    const out: Message = { key: detach(message.key), value: detach(message.value), headers }
    const copy: Copy = { message: out, bytes: sizeOf(out), at: Date.now(), source }
    if (this.closed) return this.drop([copy], 'closed')
    if (this.queuedBytes + copy.bytes > this.maxQueuedBytes) return this.drop([copy], 'queue_full')
    this.queuedBytes += copy.bytes
    this.queuedCopies++
    this.assign(copy)
    this.scheduleExpiry(copy.at + this.maxWaitMs)
  }

  /** Copies queued or in flight, and their bytes as counted against DEAD_LETTER_MAX_QUEUED_BYTES. */
  get pending(): { copies: number; bytes: number } {
    return { copies: this.queuedCopies, bytes: this.queuedBytes }
  }

  // --- partitions --------------------------------------------------------------------------

  private assign(copy: Copy): void {
    if (!this.partitionMeta) {
      this.unassigned.push(copy)
      this.resolvePartitions()
      return
    }
    if (Date.now() - this.metaAt > METADATA_MAX_AGE_MS) void this.refreshPartitions().catch(() => undefined)
    const partition = this.partitioner({ topic: this.topic, partitionMetadata: this.partitionMeta, message: copy.message })
    let q = this.queues.get(partition)
    if (!q) this.queues.set(partition, (q = { partition, copies: [], inFlight: undefined, running: false, failing: false, solo: 0 }))
    q.copies.push(copy)
    this.kick(q)
  }

  private refreshPartitions(): Promise<void> {
    this.metaRefresh ??= (async () => {
      this.admin ??= this.kafka.admin({ retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 } })
      if (!this.adminConnected) {
        await this.admin.connect()
        this.adminConnected = true
      }
      const { topics } = await this.admin.fetchTopicMetadata({ topics: [this.topic] })
      const partitions = topics.find((t) => t.name === this.topic)?.partitions ?? []
      if (partitions.length === 0) throw new Error(`no partitions known for ${this.topic}`)
      this.partitionMeta = [...partitions].sort((a, b) => a.partitionId - b.partitionId)
      this.metaAt = Date.now()
    })().finally(() => (this.metaRefresh = undefined))
    return this.metaRefresh
  }

  /** Copies that came before the partitions were known: look them up (with back-off), then queue the copies. */
  private resolvePartitions(): void {
    if (this.resolving || this.closed) return
    this.resolving = true
    void (async () => {
      let backoff = 0
      while (!this.closed && this.unassigned.length > 0 && !this.partitionMeta) {
        if (backoff > 0) await sleep(backoff)
        try {
          await this.refreshPartitions()
        } catch (err) {
          this.unreachable(err)
          backoff = nextBackoff(backoff)
        }
      }
      this.resolving = false
      if (this.closed || !this.partitionMeta) return
      const waiting = this.unassigned
      this.unassigned = []
      for (const copy of waiting) this.assign(copy)
    })()
  }

  // --- sending -----------------------------------------------------------------------------

  /** Start the partition's pump unless it runs; it starts on the next turn of the event loop, so copies queued meanwhile go out together. */
  private kick(q: PartitionQueue): void {
    if (q.running || this.closed || (q.copies.length === 0 && !q.inFlight)) return
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
    while (!this.closed && (q.inFlight || q.copies.length > 0)) {
      if (backoff > 0) await sleep(backoff)
      if (this.closed) return
      const batch = (q.inFlight ??= this.takeBatch(q))
      if (batch.length === 0) {
        q.inFlight = undefined
        continue
      }
      let slot: ProducerSlot | undefined
      let error: unknown
      let ok = false
      try {
        slot = await this.readySlot()
        slot.sends++
        await slot.producer.send({
          topic: this.topic,
          acks: -1,
          messages: batch.map((c) => ({ ...c.message, partition: q.partition })),
        })
        ok = true
      } catch (err) {
        error = err
      } finally {
        if (slot && --slot.sends === 0 && slot.retired) void slot.producer.disconnect().catch(() => undefined)
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
        if (slot) this.replaceProducer(slot, error)
        this.sent(q, batch)
        continue
      }
      if (kind === 'rejected') {
        backoff = 0
        if (batch.length > 1 && isRecordError(error)) {
          // One copy of the batch may be at fault (too large, invalid): send them one by one.
          q.inFlight = undefined
          q.copies.unshift(...batch)
          q.solo = batch.length
          continue
        }
        this.settle(q, batch)
        this.fail(batch, error)
        continue
      }
      q.failing = true
      if (kind === 'sequence') {
        // Not the copies' fault and not the topic's: a new producer id, then the same batch again.
        if (slot) this.replaceProducer(slot, error)
      } else {
        this.unreachable(error)
      }
      const newest = batch[batch.length - 1]!
      if (Date.now() - newest.at >= this.maxWaitMs) {
        // Given up after an attempt whose outcome is unknown: the next batch must not reuse its
        // sequence numbers (the broker would take it for this one), so a new producer id.
        this.settle(q, batch)
        this.drop(batch, 'max_wait')
        if (slot) this.replaceProducer(slot, error)
        this.expire()
        backoff = 0
        continue
      }
      backoff = nextBackoff(backoff)
    }
  }

  private sent(q: PartitionQueue, batch: Copy[]): void {
    this.settle(q, batch)
    this.metrics.deadLetter.inc({ result: 'sent' }, batch.length)
    if (this.episode) this.episode.sent += batch.length
    q.failing = false
    this.maybeRecovered()
  }

  private takeBatch(q: PartitionQueue): Copy[] {
    if (q.solo > 0) {
      q.solo--
      return q.copies.splice(0, 1)
    }
    let n = 0
    let bytes = 0
    while (n < q.copies.length && n < BATCH_MAX_COPIES) {
      const next = q.copies[n]!.bytes
      if (n > 0 && bytes + next > BATCH_MAX_BYTES) break
      bytes += next
      n++
    }
    return q.copies.splice(0, n)
  }

  /** The batch is done with (sent, rejected or dropped): release its bytes. */
  private settle(q: PartitionQueue, batch: Copy[]): void {
    if (q.inFlight === batch) q.inFlight = undefined
    this.release(batch)
  }

  private release(copies: Copy[]): void {
    for (const c of copies) this.queuedBytes -= c.bytes
    this.queuedCopies -= copies.length
    if (this.queuedCopies === 0) this.notifyIdle()
  }

  private newSlot(): ProducerSlot {
    const producer = this.kafka.producer({
      allowAutoTopicCreation: false,
      // Every copy carries its partition (chosen in assign()); named so that kafkajs does not warn about its default.
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: this.idempotent,
      maxInFlightRequests: 1,
      // One send() tries twice; the batch is then sent again by pump() with its own back-off,
      // until DEAD_LETTER_MAX_WAIT_MS (the same batch, so the idempotent producer's sequence
      // numbers stay right).
      retry: { retries: 1, initialRetryTime: BACKOFF_MIN_MS, maxRetryTime: BACKOFF_MAX_MS },
    })
    return { producer, idempotent: this.idempotent, connected: false, connecting: undefined, sends: 0, retired: false }
  }

  /**
   * The current producer, connected. A cluster that grants no producer id (no IdempotentWrite
   * permission on a cluster older than Kafka 3.0, or one that names no usable controller, as
   * librdkafka's mock cluster does) gets a producer without idempotence instead, with one warn line.
   */
  private async readySlot(): Promise<ProducerSlot> {
    for (;;) {
      const slot = this.slot
      try {
        await this.connectSlot(slot)
      } catch (err) {
        if (!slot.idempotent || !grantsNoProducerId(err)) throw err
        if (this.idempotent) {
          this.idempotent = false
          this.log.warn(
            { deadLetterTopic: this.topic, error: errorText(err) },
            'dead-letter producer without idempotence: the cluster grants no producer id; a copy sent again after an unanswered attempt may then appear twice',
          )
        }
        this.replaceProducer(slot, err, false)
        continue
      }
      if (!slot.retired) return slot
    }
  }

  private connectSlot(slot: ProducerSlot): Promise<void> {
    if (slot.connected) return Promise.resolve()
    slot.connecting ??= slot.producer.connect().then(
      () => {
        slot.connected = true
      },
      (err: unknown) => {
        slot.connecting = undefined
        throw err
      },
    )
    return slot.connecting
  }

  private replaceProducer(slot: ProducerSlot, error: unknown, log = true): void {
    if (slot !== this.slot || this.closed) return
    if (log) this.log.info({ deadLetterTopic: this.topic, error: errorText(error) }, 'dead-letter producer replaced (a new producer id): its sequence numbers could not be trusted')
    slot.retired = true
    this.slot = this.newSlot()
    if (slot.sends === 0) void slot.producer.disconnect().catch(() => undefined)
  }

  // --- the time bound ----------------------------------------------------------------------

  private scheduleExpiry(at: number): void {
    if (this.closed || at >= this.expiryAt) return
    this.clearExpiry()
    this.expiryAt = at
    this.expiryTimer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()))
    this.expiryTimer.unref()
  }

  private clearExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer)
    this.expiryTimer = undefined
    this.expiryAt = Infinity
  }

  /** Drop the queued copies (not those in flight) that have waited DEAD_LETTER_MAX_WAIT_MS; schedule the next check. */
  private expire(): void {
    this.clearExpiry()
    if (this.closed) return
    const limit = Date.now() - this.maxWaitMs
    const expired: Copy[] = []
    const cut = (list: Copy[]) => {
      let n = 0
      while (n < list.length && list[n]!.at <= limit) n++
      if (n > 0) expired.push(...list.splice(0, n))
      return list[0]?.at
    }
    let next = cut(this.unassigned) ?? Infinity
    for (const q of this.queues.values()) next = Math.min(next, cut(q.copies) ?? Infinity)
    if (expired.length > 0) {
      this.release(expired)
      this.drop(expired, 'max_wait')
    }
    if (next !== Infinity) this.scheduleExpiry(next + this.maxWaitMs)
  }

  // --- counting and logging ----------------------------------------------------------------

  private drop(copies: Copy[], reason: DropReason): void {
    this.metrics.deadLetter.inc({ result: 'dropped' }, copies.length)
    for (const copy of copies) this.debugCopy(copy, 'dropped', reason)
    if (reason === 'closed') return
    const e = this.trouble()
    e.dropped += copies.length
    if (e.loggedDrop) return
    e.loggedDrop = true
    const why =
      reason === 'queue_full'
        ? `DEAD_LETTER_MAX_QUEUED_BYTES (${this.maxQueuedBytes}) is taken by copies waiting`
        : `waited DEAD_LETTER_MAX_WAIT_MS (${this.maxWaitMs} ms) for the topic`
    this.log.warn(
      { deadLetterTopic: this.topic, reason, queued: this.queuedCopies, queuedBytes: this.queuedBytes, first: copies[0]!.source },
      `dead-letter copies dropped: ${why}; further drops are counted (consumer_dead_letter_total{result="dropped"})`,
    )
  }

  private fail(copies: Copy[], error: unknown): void {
    this.metrics.deadLetter.inc({ result: 'failed' }, copies.length)
    for (const copy of copies) this.debugCopy(copy, 'failed', errorText(error))
    const e = this.trouble()
    e.failed += copies.length
    if (e.loggedFail) return
    e.loggedFail = true
    this.log.warn(
      { deadLetterTopic: this.topic, error: errorText(error), errorType: errorType(error), copies: copies.length, first: copies[0]!.source },
      'dead-letter copies rejected by the broker; further rejections are counted (consumer_dead_letter_total{result="failed"})',
    )
  }

  /** A retriable failure: the topic (or a partition's leader) cannot be reached now. */
  private unreachable(error: unknown): void {
    const e = this.trouble()
    if (e.unreachable) return
    e.unreachable = true
    this.log.warn(
      {
        deadLetterTopic: this.topic,
        error: errorText(error),
        errorType: errorType(error),
        queued: this.queuedCopies,
        maxWaitMs: this.maxWaitMs,
        maxQueuedBytes: this.maxQueuedBytes,
      },
      'dead-letter topic unreachable: copies are kept and sent again, each for up to DEAD_LETTER_MAX_WAIT_MS',
    )
  }

  private trouble(): Episode {
    this.episode ??= { since: Date.now(), sent: 0, dropped: 0, failed: 0, loggedDrop: false, loggedFail: false, unreachable: false }
    return this.episode
  }

  /** After a batch was sent: the episode ends once no partition is failing and the partitions are known. */
  private maybeRecovered(): void {
    const e = this.episode
    if (!e || this.unassigned.length > 0) return
    for (const q of this.queues.values()) if (q.failing) return
    this.episode = undefined
    this.log.info(
      { deadLetterTopic: this.topic, durationMs: Date.now() - e.since, sent: e.sent, dropped: e.dropped, failed: e.failed, queued: this.queuedCopies },
      'dead-letter copies flowing again',
    )
  }

  private debugCopy(copy: Copy, result: 'dropped' | 'failed', why: string): void {
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ deadLetterTopic: this.topic, ...copy.source, result, why, waitedMs: Date.now() - copy.at }, `dead-letter copy ${result}`)
    }
  }

  private *allQueued(): Generator<Copy> {
    yield* this.unassigned
    for (const q of this.queues.values()) {
      if (q.inFlight) yield* q.inFlight
      yield* q.copies
    }
  }

  private notifyIdle(): void {
    if (this.queuedCopies > 0) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }
}

/** A Buffer of its own (not a view of kafkajs's fetch response, which would keep the whole response alive). */
function detach<T extends Buffer | string | null | undefined>(v: T): T {
  return (Buffer.isBuffer(v) ? Buffer.from(v) : v) as T
}

function copyHeaders(headers: IHeaders | undefined): IHeaders {
  const out: IHeaders = {}
  for (const [k, v] of Object.entries(headers ?? {})) out[k] = Array.isArray(v) ? v.map((x) => detach(x)) : detach(v)
  return out
}

function byteLength(v: Buffer | string | null | undefined): number {
  if (v == null) return 0
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length
}

/** What a copy is counted for against DEAD_LETTER_MAX_QUEUED_BYTES. */
export function sizeOf(m: Message): number {
  let n = COPY_OVERHEAD_BYTES + byteLength(m.key) + byteLength(m.value)
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    n += k.length
    if (Array.isArray(v)) for (const x of v) n += byteLength(x)
    else n += byteLength(v)
  }
  return n
}

/** The error and its causes, outermost first. */
function chain(err: unknown): Array<{ name?: string; type?: string; retriable?: boolean; message?: string }> {
  const out: Array<{ name?: string; type?: string; retriable?: boolean; message?: string }> = []
  let e = err as { cause?: unknown } | undefined
  while (e && typeof e === 'object' && out.length < 10) {
    out.push(e as never)
    e = e.cause as never
  }
  return out
}

/**
 * `sequence`: the broker no longer accepts this producer's sequence numbers (a new producer id
 * is needed); `retriable`: the send can succeed later (kafkajs marks the root cause retriable:
 * no leader, a connection lost, a timeout, retries used up); `rejected`: anything else.
 */
export function classify(err: unknown): 'duplicate' | 'sequence' | 'retriable' | 'rejected' {
  const errors = chain(err)
  if (errors.some((e) => e.type === 'DUPLICATE_SEQUENCE_NUMBER')) return 'duplicate'
  if (errors.some((e) => e.type !== undefined && SEQUENCE_ERRORS.has(e.type))) return 'sequence'
  return errors.at(-1)?.retriable === true ? 'retriable' : 'rejected'
}

/** InitProducerId refused for good: not authorised, or no broker to ask (the controller named by the metadata is not among its brokers). */
function grantsNoProducerId(err: unknown): boolean {
  return chain(err).some(
    (e) => e.name === 'KafkaJSBrokerNotFound' || e.type === 'CLUSTER_AUTHORIZATION_FAILED' || e.type === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  )
}

function isRecordError(err: unknown): boolean {
  return chain(err).some((e) => e.type !== undefined && RECORD_ERRORS.has(e.type))
}

function errorType(err: unknown): string | undefined {
  return chain(err).find((e) => e.type !== undefined)?.type ?? chain(err).at(-1)?.name
}

function errorText(err: unknown): string {
  const errors = chain(err)
  const root = errors.at(-1)
  if (!root) return String(err)
  const [outer, inner] = [String(errors[0]!.message), String(root.message)]
  return outer.includes(inner) ? outer : `${outer}: ${inner}`
}

function nextBackoff(ms: number): number {
  return Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, ms * 2))
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
