/**
 * Processing one message that is already committed: decode, run the handler under its time
 * limit and the shutdown deadline, count the outcome. A plain function of its dependencies,
 * unit-tested without Kafka. Nothing here can throw: every failure is counted, logged with
 * topic, partition and offset, and the loop goes on (at-most-once: no retry).
 */
import type { KafkaMessage } from 'kafkajs'
import type { Logger } from 'pino'
import { ErrorCode, HandlerTimeoutError, isMessageRejected } from '../errors.ts'
import type { LossReason, PartitionMetrics } from '../metrics.ts'
import { messageTracing, type MessageSpan } from '../tracing/message-span.ts'
import { type CallWatch, WatchedCall, type Settled } from './call-watch.ts'
import type { DecodedValue } from './decode.ts'
import type { ConsumedMessage, Handler, HandlerContext } from './handler.ts'

/**
 * How one message ended: `ok`; `failed` (the handler threw or timed out: the downstream's fault,
 * as far as anyone can tell); `rejected` (the handler said the message itself is at fault:
 * MessageRejectedError); `skipped` (undecodable, never handed over); `abandoned` (the shutdown
 * deadline passed while the handler ran).
 */
export type Outcome = 'ok' | 'failed' | 'rejected' | 'skipped' | 'abandoned'

/** Told of every handler call's start and outcome: the circuit breaker (src/consumer/breaker.ts). */
export interface CallObserver {
  /** A call starts; the token is handed back with its outcome. */
  callStarted(): number
  callFinished(token: number, outcome: Outcome, error?: unknown): void
}

/** Best-effort copy of a failed message to DEAD_LETTER_TOPIC; must never block or throw. */
export type DeadLetterFn = (source: { topic: string; partition: number; message: KafkaMessage }, reason: LossReason, error: unknown) => void

export interface ProcessDeps {
  decode: (value: Buffer | null) => DecodedValue
  handler: Handler
  /** 0: no limit. */
  handlerTimeoutMs: number
  /** Aborted when the shutdown deadline passes: the handler is abandoned. */
  deadline: AbortSignal
  log: Logger
  metrics: PartitionMetrics
  deadLetter?: DeadLetterFn | undefined
  /** Told of every handler abandoned at the shutdown deadline (a committed message left unprocessed). */
  onAbandoned?: (() => void) | undefined
  /** Told of every call's start and outcome (the circuit breaker). */
  calls?: CallObserver | undefined
  /**
   * Watches the calls that return a promise for their end, HANDLER_TIMEOUT_MS and the deadline:
   * one for the whole service (call-watch.ts), made with the same handlerTimeoutMs and deadline.
   */
  watch: CallWatch
}

/**
 * One partition's messages to the handler: processMessage with the partition's dependencies. In
 * COMMIT_MODE=sync only the commit gate holds one (src/consumer/at-most-once.ts): it is the only
 * way to a handler call there.
 */
export class MessageRunner {
  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly deps: ProcessDeps,
  ) {}

  /** Processes one committed message; the outcome is returned synchronously when the handler was synchronous. */
  run(raw: KafkaMessage): Outcome | Promise<Outcome> {
    return processMessage(this.topic, this.partition, raw, this.deps)
  }

  /**
   * The same, without a promise: the outcome is returned when the handler was synchronous, else
   * undefined is returned and `done(outcome, tag)` is called once later (the dispatcher's hot
   * path: `tag` is its index of the message, so that no function is made per message).
   */
  start(raw: KafkaMessage, done: (outcome: Outcome, tag: number) => void, tag: number): Outcome | undefined {
    return runMessage(this.topic, this.partition, raw, this.deps, done, tag)
  }
}

const errorFields = (err: unknown) =>
  err instanceof Error
    ? { error: err.message, errorName: err.name, code: (err as { code?: unknown }).code }
    : { error: String(err) }

/** A context whose AbortSignal is only created when the handler asks for it. */
class LazyContext implements HandlerContext {
  readonly log: Logger
  private readonly deadline: AbortSignal
  private controller: AbortController | undefined
  constructor(log: Logger, deadline: AbortSignal) {
    this.log = log
    this.deadline = deadline
  }
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.deadline.aborted) this.controller.abort(this.deadline.reason)
    }
    return this.controller.signal
  }
  abort(reason: unknown): void {
    this.controller?.abort(reason)
  }
}

export function processMessage(topic: string, partition: number, raw: KafkaMessage, deps: ProcessDeps): Outcome | Promise<Outcome> {
  let settle: ((o: Outcome) => void) | undefined
  let early: Outcome | undefined
  const outcome = runMessage(topic, partition, raw, deps, (o) => (settle ? settle(o) : (early = o)))
  if (outcome !== undefined) return outcome
  if (early !== undefined) return Promise.resolve(early)
  return new Promise<Outcome>((resolve) => (settle = resolve))
}

/**
 * processMessage, without a promise of its own: returns the outcome when the handler returned
 * synchronously (or threw, or the message did not decode); otherwise returns undefined and calls
 * `done` once, when the handler's promise settled, timed out, or the deadline passed.
 */
export function runMessage(
  topic: string,
  partition: number,
  raw: KafkaMessage,
  deps: ProcessDeps,
  done: (outcome: Outcome, tag: number) => void,
  tag = 0,
): Outcome | undefined {
  const { metrics, log } = deps
  const token = deps.calls?.callStarted() ?? 0
  // Tracing off (the default): undefined, and no header is read, no span created.
  const span = messageTracing()?.start(topic, partition, raw)

  let value: DecodedValue
  try {
    value = deps.decode(raw.value)
  } catch (error) {
    metrics.skipped('undecodable')
    metrics.lost('undecodable')
    log.warn({ topic, partition, offset: raw.offset, ...errorFields(error), lost: true, ...span?.logFields }, 'undecodable message skipped')
    deps.deadLetter?.({ topic, partition, message: raw }, 'undecodable', error)
    span?.fail('undecodable', error)
    deps.calls?.callFinished(token, 'skipped', error)
    return 'skipped'
  }

  const message: ConsumedMessage = {
    topic,
    partition,
    offset: raw.offset,
    key: raw.key ?? null,
    value,
    headers: raw.headers ?? {},
    timestamp: raw.timestamp,
  }
  const context = new LazyContext(log, deps.deadline)

  let result: unknown
  try {
    // Inside the span's context (tracing on), so the handler's own instrumented calls join the trace.
    result = span ? span.run(() => deps.handler(message, context)) : deps.handler(message, context)
  } catch (error) {
    return finish(topic, partition, raw, deps, context, { kind: 'error', error }, span, token)
  }
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    deps.watch.watch(result as PromiseLike<unknown>, new PendingMessage(topic, partition, raw, deps, context, span, token, done, tag))
    return undefined
  }
  metrics.ok.inc()
  span?.ok()
  deps.calls?.callFinished(token, 'ok')
  return 'ok'
}

/** A handler call whose promise is running: what its end needs, in one object (the watch's entry too). */
class PendingMessage extends WatchedCall {
  constructor(
    private readonly topic: string,
    private readonly partition: number,
    private readonly raw: KafkaMessage,
    private readonly deps: ProcessDeps,
    private readonly context: LazyContext,
    private readonly span: MessageSpan | undefined,
    private readonly token: number,
    private readonly done: (outcome: Outcome, tag: number) => void,
    private readonly tag: number,
  ) {
    super()
  }

  settled(s: Settled): void {
    this.done(finish(this.topic, this.partition, this.raw, this.deps, this.context, s, this.span, this.token), this.tag)
  }
}

function finish(
  topic: string,
  partition: number,
  raw: KafkaMessage,
  deps: ProcessDeps,
  context: LazyContext,
  settled: Settled,
  span: MessageSpan | undefined,
  token: number,
): Outcome {
  const outcome = account(topic, partition, raw, deps, context, settled, span)
  deps.calls?.callFinished(token, outcome, settled.kind === 'error' ? settled.error : undefined)
  return outcome
}

function account(
  topic: string,
  partition: number,
  raw: KafkaMessage,
  deps: ProcessDeps,
  context: LazyContext,
  settled: Settled,
  span: MessageSpan | undefined,
): Outcome {
  const { metrics, log } = deps
  const where = { topic, partition, offset: raw.offset, ...span?.logFields }
  switch (settled.kind) {
    case 'ok':
      metrics.ok.inc()
      span?.ok()
      return 'ok'
    case 'error': {
      // The message's own fault (MessageRejectedError) is counted as any failure; only the
      // circuit breaker tells the two apart.
      const rejected = isMessageRejected(settled.error)
      metrics.failed.inc()
      metrics.lost('handler_failed')
      log.warn({ ...where, ...errorFields(settled.error), lost: true, ...(rejected ? { rejected: true } : {}) }, 'handler failed; message lost (at-most-once: no retry)')
      deps.deadLetter?.({ topic, partition, message: raw }, 'handler_failed', settled.error)
      span?.fail('handler_failed', settled.error)
      return rejected ? 'rejected' : 'failed'
    }
    case 'timeout': {
      const error = new HandlerTimeoutError(deps.handlerTimeoutMs)
      context.abort(error)
      metrics.failed.inc()
      metrics.lost('handler_timeout')
      log.warn({ ...where, code: ErrorCode.HANDLER_TIMEOUT, timeoutMs: deps.handlerTimeoutMs, lost: true }, 'handler timed out and was abandoned; message lost')
      deps.deadLetter?.({ topic, partition, message: raw }, 'handler_timeout', error)
      span?.fail('handler_timeout', error)
      return 'failed'
    }
    case 'deadline':
      context.abort(deps.deadline.reason)
      deps.onAbandoned?.()
      metrics.lost('shutdown')
      log.warn({ ...where, lost: true }, 'handler abandoned at the shutdown deadline; committed message not processed')
      span?.fail('shutdown', deps.deadline.reason)
      return 'abandoned'
  }
}
