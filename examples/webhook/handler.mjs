// @ts-check
/**
 * Webhook handler: POSTs each message, as JSON, to WEBHOOK_URL, and exports a probe of the same
 * downstream for the circuit breaker. See examples/README.md.
 *
 *   HANDLER=examples/webhook/handler.mjs WEBHOOK_URL=https://hooks.example.com/orders npm start
 *
 * Each POST carries `Idempotency-Key: <topic>/<partition>/<offset>`, the message's identity in
 * Kafka: the receiver can drop a second delivery of the same message (this service never sends
 * one, but a receiver should not have to trust that). The body:
 *
 *   { "topic": "orders", "partition": 3, "offset": "1042", "timestamp": "1765112400000",
 *     "key": "customer-7", "value": { ...the message value... } }
 *
 * `key` is the key as UTF-8 text (or null); `value` is the value as the service decoded it
 * (VALUE_FORMAT): JSON as is, text as a string, binary as a base64 string, a tombstone as null.
 *
 * Who is at fault when the POST fails:
 * - 2xx: delivered.
 * - Any other 4xx (400, 404, 409, 413, 422...): the receiver refused THIS message. The handler
 *   throws an error with code AMO_MESSAGE_REJECTED (and `status`): counted failed, never against
 *   the downstream, so it never opens the circuit breaker.
 * - 5xx, 408 (timeout), 429 (rate limited), 401 and 403 (credentials: every message would get
 *   the same answer), a network error (fetch also reports a 407 as one), an abort: the
 *   downstream's. The error has code WEBHOOK_FAILED (and `status` when there was an answer); an
 *   abort rejects with the signal's reason.
 *
 * The configuration is read and checked when the module loads, so a mistake stops the service at
 * start with a line naming the variable (as the service's own variables do).
 */

/**
 * @typedef {import('../../src/message/handler.ts').ConsumedMessage} ConsumedMessage
 * @typedef {import('../../src/message/handler.ts').HandlerContext} HandlerContext
 * @typedef {import('../../src/message/handler.ts').ProbeContext} ProbeContext
 */

/** A variable is missing or wrong (the same code and `variable` as the service's own errors). */
class ConfigError extends Error {
  code = 'AMO_CONFIG_INVALID'
  /**
   * @param {string} variable
   * @param {string} message
   */
  constructor(variable, message) {
    super(message)
    this.name = 'ConfigError'
    this.variable = variable
  }
}

/** The message itself is at fault (the code the service's MessageRejectedError has). */
class MessageRejected extends Error {
  code = 'AMO_MESSAGE_REJECTED'
  /**
   * @param {string} message
   * @param {number} status
   */
  constructor(message, status) {
    super(message)
    this.name = 'MessageRejected'
    this.status = status
  }
}

/** The downstream failed: an answer that is not the message's fault, or no answer at all. */
class WebhookError extends Error {
  code = 'WEBHOOK_FAILED'
  /**
   * @param {string} message
   * @param {{ status?: number, cause?: unknown }} [options]
   */
  constructor(message, options = {}) {
    super(message, { cause: options.cause })
    this.name = 'WebhookError'
    this.status = options.status
  }
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 * @param {string | undefined} fallback
 */
function httpUrl(env, name, fallback) {
  const raw = env[name] || fallback
  if (!raw) throw new ConfigError(name, `${name} is required: the http or https URL each message is POSTed to`)
  let url
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(name, `${name}=${JSON.stringify(raw)} is not a URL (e.g. https://hooks.example.com/orders)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, `${name}=${JSON.stringify(raw)} must be an http or https URL`)
  }
  return url.href
}

/** @param {NodeJS.ProcessEnv} env */
function loadConfig(env) {
  const url = httpUrl(env, 'WEBHOOK_URL', undefined)
  const probeUrl = httpUrl(env, 'WEBHOOK_PROBE_URL', url)
  const probeMethod = (env.WEBHOOK_PROBE_METHOD || 'HEAD').toUpperCase()
  if (probeMethod !== 'HEAD' && probeMethod !== 'GET') {
    throw new ConfigError('WEBHOOK_PROBE_METHOD', `WEBHOOK_PROBE_METHOD=${JSON.stringify(env.WEBHOOK_PROBE_METHOD)} must be HEAD or GET`)
  }
  /** @type {Record<string, string>} */
  const auth = env.WEBHOOK_AUTHORIZATION ? { authorization: env.WEBHOOK_AUTHORIZATION } : {}
  return { url, probeUrl, probeMethod, auth }
}

const config = loadConfig(process.env)

/** Statuses that are not the message's fault although they are 4xx. */
const DOWNSTREAM_4XX = new Set([401, 403, 408, 429])

/** @param {number} status */
const isDownstreamStatus = (status) => status >= 500 || DOWNSTREAM_4XX.has(status) || status < 200 || (status >= 300 && status < 400)

/** @param {Response} res up to 200 characters of the body, for the error message */
async function excerpt(res) {
  const text = await res.text().catch(() => '')
  return text.length > 200 ? `${text.slice(0, 200)}...` : text
}

/**
 * A failed fetch: the abort reason when the signal fired, else a WebhookError naming the cause.
 * @param {unknown} err
 * @param {AbortSignal} signal
 * @param {string} what
 */
function fetchFailure(err, signal, what) {
  if (signal.aborted) return signal.reason ?? err
  const cause = /** @type {{ cause?: { code?: string, message?: string } }} */ (err).cause
  const why = cause?.code ?? cause?.message ?? /** @type {Error} */ (err).message
  return new WebhookError(`${what} failed: ${why}`, { cause: err })
}

/** @param {ConsumedMessage} message */
function body(message) {
  const value = Buffer.isBuffer(message.value) ? message.value.toString('base64') : message.value
  return JSON.stringify({
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: message.key === null ? null : message.key.toString('utf8'),
    value,
  })
}

/**
 * POST the message; resolve on 2xx.
 * @param {ConsumedMessage} message
 * @param {HandlerContext} context
 */
export default async function webhook(message, { signal, log }) {
  const key = `${message.topic}/${message.partition}/${message.offset}`
  let res
  try {
    res = await fetch(config.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, ...config.auth },
      body: body(message),
      signal,
    })
  } catch (err) {
    throw fetchFailure(err, signal, `POST ${config.url}`)
  }
  if (res.ok) {
    await res.arrayBuffer().catch(() => {}) // read to the end: the connection is reused
    log.debug({ key, status: res.status }, 'webhook delivered')
    return
  }
  const text = await excerpt(res)
  if (isDownstreamStatus(res.status)) {
    throw new WebhookError(`POST ${config.url} answered ${res.status}${text ? `: ${text}` : ''}`, { status: res.status })
  }
  throw new MessageRejected(`POST ${config.url} refused the message (${key}) with ${res.status}${text ? `: ${text}` : ''}`, res.status)
}

/**
 * The downstream answers, and not with an answer that says it is down: the same rule as the
 * handler's (5xx, 401, 403, 408, 429, no answer: down). A 404 or 405 to a HEAD of the webhook
 * URL itself means the server is up. Resolves with the status.
 * @param {ProbeContext} context
 */
export async function probe({ signal }) {
  let res
  try {
    res = await fetch(config.probeUrl, { method: config.probeMethod, headers: { ...config.auth }, signal })
  } catch (err) {
    throw fetchFailure(err, signal, `${config.probeMethod} ${config.probeUrl}`)
  }
  await res.arrayBuffer().catch(() => {})
  if (isDownstreamStatus(res.status)) {
    throw new WebhookError(`${config.probeMethod} ${config.probeUrl} answered ${res.status}`, { status: res.status })
  }
  return res.status
}
