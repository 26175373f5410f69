/**
 * What a failed produce request (or a producer's connect) means for the dead-letter copies, read
 * from the kafkajs error and its causes: sent after all, a sequence the broker no longer accepts,
 * a failure that can pass, or a rejection for good (classify); whether the cluster grants no
 * producer id; whether one record may be at fault; and the error's type and text for log lines.
 */

/** Errors after which the producer's sequence numbers cannot be trusted: a new producer id is needed. */
const SEQUENCE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_ID_MAPPING'])
/** Rejections that may be one record's fault rather than the whole batch's. */
const RECORD_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE'])

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
export function grantsNoProducerId(err: unknown): boolean {
  return chain(err).some(
    (e) => e.name === 'KafkaJSBrokerNotFound' || e.type === 'CLUSTER_AUTHORIZATION_FAILED' || e.type === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  )
}

export function isRecordError(err: unknown): boolean {
  return chain(err).some((e) => e.type !== undefined && RECORD_ERRORS.has(e.type))
}

export function errorType(err: unknown): string | undefined {
  return chain(err).find((e) => e.type !== undefined)?.type ?? chain(err).at(-1)?.name
}

export function errorText(err: unknown): string {
  const errors = chain(err)
  const root = errors.at(-1)
  if (!root) return String(err)
  const [outer, inner] = [String(errors[0]!.message), String(root.message)]
  return outer.includes(inner) ? outer : `${outer}: ${inner}`
}
