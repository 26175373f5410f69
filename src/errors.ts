/** Typed errors with stable codes: logs, tests and operators match on `code`, never on text. */
export const ErrorCode = {
  CONFIG_INVALID: 'AMO_CONFIG_INVALID',
  HANDLER_NOT_FOUND: 'AMO_HANDLER_NOT_FOUND',
  HANDLER_INVALID: 'AMO_HANDLER_INVALID',
  DECODE_FAILED: 'AMO_DECODE_FAILED',
  HANDLER_TIMEOUT: 'AMO_HANDLER_TIMEOUT',
  SHUTDOWN_TIMEOUT: 'AMO_SHUTDOWN_TIMEOUT',
  SHUTDOWN_UNPROCESSED: 'AMO_SHUTDOWN_UNPROCESSED',
  TOPIC_MISSING: 'AMO_TOPIC_MISSING',
  START_FAILED: 'AMO_START_FAILED',
  LISTEN_FAILED: 'AMO_LISTEN_FAILED',
  KAFKA_UNREACHABLE: 'AMO_KAFKA_UNREACHABLE',
  AUTH_FAILED: 'AMO_AUTH_FAILED',
  TLS_FAILED: 'AMO_TLS_FAILED',
  AT_MOST_ONCE_VIOLATION: 'AMO_AT_MOST_ONCE_VIOLATION',
  MESSAGE_REJECTED: 'AMO_MESSAGE_REJECTED',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export class AmoError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** A configuration variable is missing or invalid. `variable` names it. */
export class ConfigError extends AmoError {
  readonly variable: string
  constructor(variable: string, message: string, options?: { cause?: unknown }) {
    super(ErrorCode.CONFIG_INVALID, message, options)
    this.variable = variable
  }
}

/** HANDLER does not resolve to a module, or the module has no function to call. */
export class HandlerLoadError extends AmoError {
  /** The variable to fix, as ConfigError names it. */
  readonly variable = 'HANDLER'
}

/** A message value could not be decoded in the configured VALUE_FORMAT. */
export class DecodeError extends AmoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.DECODE_FAILED, message, options)
  }
}

/** The handler did not settle within HANDLER_TIMEOUT_MS. */
export class HandlerTimeoutError extends AmoError {
  constructor(timeoutMs: number) {
    super(ErrorCode.HANDLER_TIMEOUT, `handler did not finish within ${timeoutMs} ms`)
  }
}

/** Graceful shutdown passed SHUTDOWN_TIMEOUT_MS with committed messages left unprocessed. */
export class ShutdownTimeoutError extends AmoError {
  readonly abandoned: number
  constructor(timeoutMs: number, abandoned: number) {
    super(
      ErrorCode.SHUTDOWN_TIMEOUT,
      `shutdown passed SHUTDOWN_TIMEOUT_MS=${timeoutMs}; ${abandoned} committed message(s) were not processed`,
    )
    this.abandoned = abandoned
  }
}

/**
 * Shutdown ended before the deadline with committed messages left unprocessed: held by the
 * circuit breaker (committed, never started) when shutdown came.
 */
export class ShutdownUnprocessedError extends AmoError {
  readonly abandoned: number
  constructor(abandoned: number) {
    super(ErrorCode.SHUTDOWN_UNPROCESSED, `${abandoned} committed message(s) were not processed: held by the circuit breaker when shutdown came`)
    this.abandoned = abandoned
  }
}

/** A subscribed topic does not exist (topic auto-creation is off on real clusters). */
export class TopicMissingError extends AmoError {
  readonly topics: string[]
  constructor(topics: string[]) {
    super(ErrorCode.TOPIC_MISSING, `topic${topics.length > 1 ? 's' : ''} not found: ${topics.join(', ')}`)
    this.topics = topics
  }
}

/** The HTTP server could not listen (port in use, address not available, permission). */
export class ListenError extends AmoError {
  readonly host: string
  readonly port: number
  constructor(host: string, port: number, cause: unknown) {
    const c = cause as NodeJS.ErrnoException
    super(ErrorCode.LISTEN_FAILED, `cannot listen on ${host}:${port}: ${c.code ?? c.message}${c.code === 'EADDRINUSE' ? ' (the port is already in use)' : ''}`, { cause })
    this.host = host
    this.port = port
  }
}

/**
 * A bug guard, never expected: an executor was about to hand over a message that no
 * acknowledged commit covers (src/consumer/at-most-once.ts). Thrown instead of processing it.
 */
export class AtMostOnceViolationError extends AmoError {
  constructor(
    readonly offset: number,
    readonly acked: number,
  ) {
    super(ErrorCode.AT_MOST_ONCE_VIOLATION, `refused to process offset ${offset}: the acknowledged committed offset is ${acked} (at-most-once rule)`)
  }
}

/**
 * Thrown (or rejected with) by a handler to say that THE MESSAGE ITSELF is at fault: it fails
 * validation, or the downstream refused it for what it is (an HTTP 4xx such as 400 or 422, a
 * constraint violation). Counted and logged as any failed message (lost: at-most-once never
 * retries), but never counted against the downstream by the circuit breaker. Any thrown value
 * whose `code` is `AMO_MESSAGE_REJECTED` counts the same (isMessageRejected), so a handler module
 * need not import this class.
 */
export class MessageRejectedError extends AmoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.MESSAGE_REJECTED, message, options)
  }
}

/** Whether a handler's error says the message itself is at fault (see MessageRejectedError). */
export function isMessageRejected(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === ErrorCode.MESSAGE_REJECTED
}
