/**
 * What a failed OffsetCommit means, decided in one place. kafkajs reports a Kafka protocol error
 * with its `type` (REBALANCE_IN_PROGRESS, …), its own errors by `name`
 * (KafkaJSRequestTimeoutError, …) and socket errors with their `code` (ECONNREFUSED, …).
 *
 *  - rebalance (isRebalanceError): this member must rejoin the group. kafkajs rejoins when the
 *    error is rethrown from eachBatch; the committer does not retry it.
 *  - retriable (isRetriableCommitError): worth another attempt at once (kafkajs marks it so, and it
 *    is not a rebalance).
 *  - may have been written (mayHaveBeenWritten): the request was sent and its outcome is unknown —
 *    the connection was lost or closed after sending, the request timed out (kafkajs's
 *    KafkaJSRequestTimeoutError, or the broker's REQUEST_TIMED_OUT while waiting for replication),
 *    or the coordinator answered NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE (an append that lost
 *    its leadership while waiting for the replicas is answered so, and may have been replicated).
 *    A clean refusal — REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
 *    OFFSET_METADATA_TOO_LARGE, COORDINATOR_LOAD_IN_PROGRESS, an authorization error — is checked
 *    before anything is appended: not written. A connection that could not be opened sent nothing.
 *    The loss ledger (loss-ledger/) keeps the commits that may have been written.
 */

// NOT_COORDINATOR_FOR_GROUP is not here: the coordinator moved, which needs a retry, not a rejoin.
const REBALANCE_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID'])

/** Protocol errors of an OffsetCommit whose request may have been appended all the same. */
const WRITTEN_MAYBE_TYPES = new Set(['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'REQUEST_TIMED_OUT'])
/** kafkajs errors of a request sent whose answer never came. */
const WRITTEN_MAYBE_NAMES = new Set(['KafkaJSRequestTimeoutError', 'KafkaJSConnectionClosedError'])
/**
 * Socket errors of a connection that was never opened: nothing was sent on it. kafkajs sets
 * `code`, or only names it in the message ("Connection error: connect ECONNREFUSED 127.0.0.1:9092").
 */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])

interface KafkaJsErrorShape {
  type?: unknown
  name?: unknown
  code?: unknown
  cause?: unknown
  message?: unknown
  retriable?: unknown
}

const shape = (err: unknown): KafkaJsErrorShape | undefined => (typeof err === 'object' && err !== null ? (err as KafkaJsErrorShape) : undefined)

/** kafkajs errors that mean "this member must rejoin the group": kafkajs handles them when rethrown. */
export function isRebalanceError(err: unknown): boolean {
  const e = shape(err)
  return e !== undefined && REBALANCE_TYPES.has(String(e.type))
}

/** Worth another attempt now: kafkajs says retriable, and it is not a rebalance (that needs a rejoin). */
export function isRetriableCommitError(err: unknown): boolean {
  return shape(err)?.retriable === true && !isRebalanceError(err)
}

/** The `error` label of consumer_commit_errors_total: the Kafka error type, else the error's name. */
export function commitErrorType(err: unknown): string {
  const e = shape(err)
  return String(e?.type ?? e?.name ?? 'Error')
}

/** Whether a failed OffsetCommit may have been written by the coordinator (see the file comment). */
export function mayHaveBeenWritten(err: unknown): boolean {
  const e = shape(err)
  if (e === undefined) return false
  if (e.name === 'KafkaJSNumberOfRetriesExceeded' && e.cause !== undefined && e.cause !== err) return mayHaveBeenWritten(e.cause)
  if (typeof e.type === 'string' && WRITTEN_MAYBE_TYPES.has(e.type)) return true
  if (typeof e.name === 'string' && WRITTEN_MAYBE_NAMES.has(e.name)) return true
  if (e.name === 'KafkaJSConnectionError') return !neverConnected(e)
  return false
}

/**
 * A KafkaJSConnectionError of a connection that was never opened: "Connection timeout" (the
 * connect timed out) or a connect error whose code is one of NOT_SENT_CODES. "read ECONNRESET",
 * "Closed connection" and "Not connected" may follow a send.
 */
function neverConnected(e: KafkaJsErrorShape): boolean {
  if (typeof e.code === 'string' && NOT_SENT_CODES.has(e.code)) return true
  const message = String(e.message)
  if (message.startsWith('Connection timeout')) return true
  const code = /\bconnect (E[A-Z_]+)/.exec(message)?.[1]
  return code !== undefined && NOT_SENT_CODES.has(code)
}
