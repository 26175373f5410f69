/**
 * What the dead-letter producer counts and says. consumer_dead_letter_total{result}, each copy
 * counted once: `sent` when the broker acknowledged it (acks=all); `failed` when the broker
 * rejected it for good (too large, not authorised, ...: sending it again cannot help); `dropped`
 * when it was given up unacknowledged: no room (memory bound), waited too long (time bound), still
 * queued at shutdown, or sent after it. Logs, per trouble episode: one warn line when it starts
 * (the topic unreachable), one more the first time it drops or has copies rejected, and one info
 * line with its totals when copies flow again; the copies themselves only at debug.
 */
import type { Logger } from 'pino'
import type { Metrics } from '../../metrics.ts'
import type { Copy } from './copy.ts'
import type { MemoryBound } from './memory-bound.ts'
import { errorText, errorType } from './produce-errors.ts'

type DropReason = 'queue_full' | 'max_wait' | 'shutdown' | 'closed'

/** From the first trouble until copies flow again. */
interface Episode {
  since: number
  sent: number
  dropped: number
  failed: number
  loggedDrop: boolean
  loggedFail: boolean
  unreachable: boolean
}

export class DeadLetterReport {
  private episode: Episode | undefined

  constructor(
    private readonly topic: string,
    private readonly metrics: Pick<Metrics, 'deadLetter'>,
    private readonly log: Logger,
    /** What is queued, for the log lines, and the bounds they name. */
    private readonly memory: Pick<MemoryBound, 'copies' | 'bytes' | 'maxQueuedBytes'>,
    private readonly maxWaitMs: number,
  ) {}

  /**
   * The broker acknowledged the copies. The episode ends (one info line) unless `troubled()`: a
   * partition still failing, or the partitions not known.
   */
  sent(count: number, troubled: () => boolean): void {
    this.metrics.deadLetter.inc({ result: 'sent' }, count)
    if (this.episode) this.episode.sent += count
    const e = this.episode
    if (!e || troubled()) return
    this.episode = undefined
    this.log.info(
      { deadLetterTopic: this.topic, durationMs: Date.now() - e.since, sent: e.sent, dropped: e.dropped, failed: e.failed, queued: this.memory.copies },
      'dead-letter copies flowing again',
    )
  }

  dropped(copies: Copy[], reason: DropReason): void {
    this.metrics.deadLetter.inc({ result: 'dropped' }, copies.length)
    for (const copy of copies) this.debugCopy(copy, 'dropped', reason)
    if (reason === 'closed') return
    const e = this.trouble()
    e.dropped += copies.length
    if (e.loggedDrop) return
    e.loggedDrop = true
    const why =
      reason === 'queue_full'
        ? `DEAD_LETTER_MAX_QUEUED_BYTES (${this.memory.maxQueuedBytes}) is taken by copies waiting`
        : `waited DEAD_LETTER_MAX_WAIT_MS (${this.maxWaitMs} ms) for the topic`
    this.log.warn(
      { deadLetterTopic: this.topic, reason, queued: this.memory.copies, queuedBytes: this.memory.bytes, first: copies[0]!.source },
      `dead-letter copies dropped: ${why}; further drops are counted (consumer_dead_letter_total{result="dropped"})`,
    )
  }

  /** The broker rejected the copies for good. */
  failed(copies: Copy[], error: unknown): void {
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
  unreachable(error: unknown): void {
    const e = this.trouble()
    if (e.unreachable) return
    e.unreachable = true
    this.log.warn(
      {
        deadLetterTopic: this.topic,
        error: errorText(error),
        errorType: errorType(error),
        queued: this.memory.copies,
        maxWaitMs: this.maxWaitMs,
        maxQueuedBytes: this.memory.maxQueuedBytes,
      },
      'dead-letter topic unreachable: copies are kept and sent again, each for up to DEAD_LETTER_MAX_WAIT_MS',
    )
  }

  /** `count` copies (`copies`) not sent within the shutdown flush budget. */
  droppedAtShutdown(count: number, copies: Iterable<Copy>, flushMs: number): void {
    this.metrics.deadLetter.inc({ result: 'dropped' }, count)
    this.log.warn({ deadLetterTopic: this.topic, dropped: count, flushMs }, 'dead-letter copies dropped at shutdown: not sent within the flush budget')
    for (const copy of copies) this.debugCopy(copy, 'dropped', 'shutdown')
  }

  private trouble(): Episode {
    this.episode ??= { since: Date.now(), sent: 0, dropped: 0, failed: 0, loggedDrop: false, loggedFail: false, unreachable: false }
    return this.episode
  }

  private debugCopy(copy: Copy, result: 'dropped' | 'failed', why: string): void {
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ deadLetterTopic: this.topic, ...copy.source, result, why, waitedMs: Date.now() - copy.at }, `dead-letter copy ${result}`)
    }
  }
}
