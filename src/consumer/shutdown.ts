/**
 * The shutdown sequence (SIGTERM or SIGINT), in the order operators rely on:
 *
 *   1. readiness off at once (done by the caller before this runs), a log line;
 *   2. stop fetching: nothing new reaches the loops, and they commit no new window;
 *   3. let the in-flight batches process what was already committed, bounded by
 *      SHUTDOWN_TIMEOUT_MS; at the deadline the handlers' AbortSignal fires and every
 *      committed-but-unprocessed message is logged at warn (topic, partition, offset);
 *   4. final synchronous commit of the consumed position (sync: usually nothing pending;
 *      async: the flush of the newest position);
 *   5. leave the group (disconnect).
 *
 * The result says whether it was clean: the process exits 0 only then. Clean means that nothing
 * committed was left unprocessed: every in-flight batch settled and none was dropped at the
 * deadline. A failed final commit and a late leave (a broker outage) are logged, not counted:
 * neither leaves a committed message unprocessed.
 *
 * When no group was joined (abandonJoin) there is nothing to drain, commit or leave: the pending
 * join is given up at once. Both paths close the clients with the same function, in the same order
 * (clients.ts).
 */
import type { KafkaMessage } from 'kafkajs'
import type { Logger } from 'pino'
import { ShutdownTimeoutError, ShutdownUnprocessedError } from '../errors.ts'
import { onAbort, withTimeout } from './bounded.ts'
import type { PartitionState } from './partitions.ts'

export interface ShutdownResult {
  clean: boolean
  abandoned: number
  durationMs: number
  error?: Error
}

/** How long the final commit and the group leave may still take once the deadline has passed. */
const AFTER_DEADLINE_MS = 500

/** What the sequence needs from the consumer it stops. */
export interface ShutdownParts {
  timeoutMs: number
  log: Logger
  /** Aborted at the deadline: the handlers' signal, and the loops' cue to drop what is left. */
  deadline: AbortController
  /** Step 2. Must not throw when the consumer is not running. */
  stopFetching: () => void
  /** The batches in flight now. */
  inFlight: () => Promise<unknown>[]
  /** After the drain: count what stays committed and unprocessed with no batch to run it (held by the circuit breaker). */
  countHeld: () => void
  /** Step 4; resolves false when the commit failed. */
  finalCommit: () => Promise<boolean>
  /**
   * Step 5 and after: close every client in its one order (clients.ts): leave the group within
   * `leaveMs`, then the others within `othersMs`. Resolves whether the group was left in time.
   */
  closeClients: (leaveMs: number, othersMs: number) => Promise<{ left: boolean }>
  /** Committed messages left unprocessed so far (Unprocessed.count). */
  abandoned: () => number
}

export async function shutdownSequence(p: ShutdownParts): Promise<ShutdownResult> {
  const started = Date.now()
  const deadlineAt = started + p.timeoutMs
  const timer = setTimeout(() => p.deadline.abort(new ShutdownTimeoutError(p.timeoutMs, p.abandoned())), p.timeoutMs)
  const remaining = () => Math.max(deadlineAt - Date.now(), AFTER_DEADLINE_MS)
  let settled = true
  try {
    p.stopFetching()
    const drained = Promise.allSettled(p.inFlight())
    await Promise.race([drained, onAbort(p.deadline.signal)])
    if (p.deadline.signal.aborted) settled = (await withTimeout(drained, AFTER_DEADLINE_MS)) !== undefined
    p.countHeld()
    // A failed final commit leaves no committed message unprocessed (the caller logs what it costs:
    // async and auto may re-deliver, i.e. duplicate, what was processed since the last commit), so
    // it does not make the shutdown unclean.
    await withTimeout(p.finalCommit(), remaining())
    const { left } = await p.closeClients(remaining(), AFTER_DEADLINE_MS)
    if (!left) p.log.warn('leaving the group did not finish in time')
    else p.log.info('left the consumer group')
  } finally {
    clearTimeout(timer)
  }
  const abandoned = p.abandoned()
  const clean = settled && abandoned === 0
  const result: ShutdownResult = { clean, abandoned, durationMs: Date.now() - started }
  if (!clean) {
    // Past the deadline, or before it with held messages that could not run (the breaker).
    result.error = p.deadline.signal.aborted || !settled ? new ShutdownTimeoutError(p.timeoutMs, abandoned) : new ShutdownUnprocessedError(abandoned)
  }
  return result
}

/** How long a given-up join may take to unwind in kafkajs once its connections are closed. */
const ABANDON_WAIT_MS = 1000

/**
 * Shutdown with no group joined (connecting, joining, restarting after a crash, crashed): no
 * partition is held, so no committed message can be waiting. kafkajs's disconnect() would wait for
 * the pending JoinGroup (the coordinator may hold it for the rebalance timeout, e.g. while a member
 * that died without leaving times out), so the connections are closed first: the join fails at
 * once and the process exits 0 without waiting. Always clean: nothing committed can be left.
 */
export async function abandonJoin(p: {
  log: Logger
  state: string
  abortConnections: () => void
  closeClients: ShutdownParts['closeClients']
}): Promise<ShutdownResult> {
  const started = Date.now()
  p.log.info({ state: p.state }, 'no group joined: nothing committed is at risk; giving up the join (no final commit, no group to leave)')
  p.abortConnections()
  const { left } = await p.closeClients(ABANDON_WAIT_MS, AFTER_DEADLINE_MS)
  // Whatever kafkajs opened again meanwhile (a coordinator lookup retrying) is closed too.
  if (!left) p.abortConnections()
  return { clean: true, abandoned: 0, durationMs: Date.now() - started }
}

/**
 * Committed messages left unprocessed at shutdown: abandoned in their handler call at the deadline
 * (message/process.ts), or dropped before it (the dispatcher). The process exits 0 only while
 * this is 0.
 */
export class Unprocessed {
  private n = 0

  constructor(private readonly log: Logger) {}

  get count(): number {
    return this.n
  }

  /** A handler call abandoned at the deadline (already logged and counted lost where it happened). */
  abandoned(): void {
    this.n++
  }

  /** `n` held messages that shutdown leaves unprocessed (logged and counted lost by PartitionState.loseHeld). */
  held(n: number): void {
    this.n += n
  }

  /** A committed message never handed over before the deadline: counted skipped and lost, one warn line. */
  dropped(p: PartitionState, message: KafkaMessage): void {
    this.n++
    p.metrics.skipped('dropped_at_shutdown')
    p.metrics.lost('shutdown')
    this.log.warn({ topic: p.topic, partition: p.partition, offset: message.offset, lost: true }, 'committed message not processed before the shutdown deadline')
  }
}
