/**
 * The connect and restart policy. Start-up with retries: while Kafka is unreachable or a topic is
 * missing, the process stays alive (liveness 200, readiness 503) and tries again with exponential
 * back-off (0.5 s doubling to 30 s, jittered ±20%), one warn line per failed attempt giving the
 * delay to the next one. A retriable crash while consuming restarts the consumer through the same
 * loop, after a back-off that grows with the crashes in a row (CrashStreak).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { ErrorCode, TopicMissingError } from '../errors.ts'

const INITIAL_BACKOFF_MS = 500
/** Largest delay between two attempts. */
export const MAX_BACKOFF_MS = 30_000

/** The delay before attempt `attempt + 1`, after `attempt` failed. */
export function backoffMs(attempt: number, random = Math.random()): number {
  return Math.round(Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** (attempt - 1)) * (0.8 + random * 0.4))
}

/**
 * Run `attempt` until it resolves or `signal` aborts. `cleanup` runs after each failure, before
 * the wait. Returns true when an attempt succeeded, false when aborted.
 *
 * Each failed attempt logs one warn line with `attempt`, `attemptMs` (how long it took to fail)
 * and `retryInMs`, the wait before the next attempt starts. An attempt must fail fast for that
 * wait to be the gap an operator sees between two lines: the start-up probe gives kafkajs one try
 * per seed broker (kafka-client.ts createProbeKafka), not its own retries of several seconds.
 */
export async function connectWithRetry(opts: {
  attempt: () => Promise<void>
  cleanup: () => Promise<void>
  signal: AbortSignal
  log: Logger
  /** Wait this long before the first attempt (a restart after a crash, already announced). */
  firstDelayMs?: number
  /** Continue the back-off from this many earlier failures (crashes in a row). */
  backoffFrom?: number
}): Promise<boolean> {
  const { attempt, cleanup, signal, log, firstDelayMs = 0, backoffFrom = 0 } = opts
  if (firstDelayMs > 0) await sleep(firstDelayMs, undefined, { signal }).catch(() => undefined)
  for (let n = 1; !signal.aborted; n++) {
    const started = Date.now()
    try {
      await attempt()
      return true
    } catch (err) {
      if (signal.aborted) return false
      const attemptMs = Date.now() - started
      await cleanup().catch(() => undefined)
      if (signal.aborted) return false
      const retryInMs = backoffMs(n + backoffFrom)
      if (err instanceof TopicMissingError) {
        log.warn({ code: err.code, topics: err.topics, attempt: n, attemptMs, retryInMs }, `${err.message}; retrying`)
      } else {
        const e = err as Error
        const { code, hint } = classify(e)
        log.warn({ code, error: `${e.name}: ${e.message}`, attempt: n, attemptMs, retryInMs, ...(hint ? { hint } : {}) }, 'cannot start the consumer; retrying')
      }
      await sleep(retryInMs, undefined, { signal }).catch(() => undefined)
    }
  }
  return false
}

/**
 * A stable code for a failed start-up attempt, and what to check when the cause is on the
 * operator's side (a credential or a CA is not something a retry fixes).
 */
export function classify(err: Error): { code: string; hint?: string } {
  const text = `${err.name} ${err.message}`
  if (/SASL|[Aa]uthentication/.test(text)) {
    return { code: ErrorCode.AUTH_FAILED, hint: 'check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD' }
  }
  if (/certificate|CERT_|SSL|TLS|self.signed|handshake/i.test(text)) {
    return { code: ErrorCode.TLS_FAILED, hint: 'check KAFKA_SSL_CA_FILE (the CA that signed the brokers\' certificates) and that the port is a TLS listener' }
  }
  return { code: ErrorCode.KAFKA_UNREACHABLE }
}

/** A crash this long after the previous one starts the restart back-off afresh. */
const CRASH_STREAK_RESET_MS = 5 * 60_000

/** Crashes in a row (since the last batch processed): the restart back-off grows with them. */
export class CrashStreak {
  private n = 0
  private lastAt = 0

  /** A crash: how many in a row now, and the delay before the restart. */
  crashed(now = Date.now()): { crashesInARow: number; retryInMs: number } {
    if (now - this.lastAt > CRASH_STREAK_RESET_MS) this.n = 0
    this.lastAt = now
    this.n++
    return { crashesInARow: this.n, retryInMs: backoffMs(this.n) }
  }

  /** A batch was processed: the consumer works again. */
  reset(): void {
    this.n = 0
  }
}
