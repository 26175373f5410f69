// @ts-check
/**
 * PostgreSQL handler: inserts each message as a row of POSTGRES_TABLE (schema.sql beside this
 * file), and exports a probe of the same database for the circuit breaker. See
 * examples/README.md.
 *
 *   HANDLER=examples/postgres/handler.mjs POSTGRES_URL=postgres://amo@db:5432/app npm start
 *
 * One row per message, its primary key (topic, kafka_partition, kafka_offset): a second delivery
 * of the same message fails with a unique violation (23505) instead of passing unnoticed.
 *
 * The signal is honoured on the server, not only here: when it aborts (HANDLER_TIMEOUT_MS, the
 * shutdown deadline), the handler rejects at once with the signal's reason AND sends PostgreSQL a
 * cancel request for the statement (the protocol's CancelRequest, on a connection of its own, with
 * the key the server gave this connection: what psql does on Ctrl-C; `pg` has no public API for
 * it). The connection is then closed rather than reused, so that a cancel arriving late can never
 * hit another message's statement. An aborted INSERT may still have committed if the cancel came
 * after the commit: the service counts the message failed either way (at most once).
 *
 * Who is at fault when the INSERT fails, by SQLSTATE class:
 * - 22 (data exception: a value PostgreSQL cannot store, e.g. a \u0000 in a JSON string) and
 *   23 (integrity constraint violation: a duplicate, a CHECK or NOT NULL you added): the message's.
 *   The error has code AMO_MESSAGE_REJECTED (and `sqlstate`): it never opens the circuit breaker.
 * - Anything else is the database's: no connection, 57P01 (the server is shutting down), 53xxx
 *   (out of resources), 42P01 (the table is missing), 40001 (serialization)... The error has code
 *   POSTGRES_FAILED (and `sqlstate` when the server sent one). An abort rejects with its reason.
 *
 * The configuration is read and checked when the module loads; nothing connects until the first
 * message or probe, so the service starts while the database is down.
 */
import net from 'node:net'
import pg from 'pg'

/**
 * @typedef {import('../../src/message/handler.ts').ConsumedMessage} ConsumedMessage
 * @typedef {import('../../src/message/handler.ts').HandlerContext} HandlerContext
 * @typedef {import('../../src/message/handler.ts').ProbeContext} ProbeContext
 * @typedef {import('pino').Logger} Logger
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
   * @param {string} sqlstate
   * @param {unknown} cause
   */
  constructor(message, sqlstate, cause) {
    super(message, { cause })
    this.name = 'MessageRejected'
    this.sqlstate = sqlstate
  }
}

/** The database failed (or could not be reached). */
class PostgresError extends Error {
  code = 'POSTGRES_FAILED'
  /**
   * @param {string} message
   * @param {string | undefined} sqlstate
   * @param {unknown} cause
   */
  constructor(message, sqlstate, cause) {
    super(message, { cause })
    this.name = 'PostgresError'
    this.sqlstate = sqlstate
  }
}

/** @param {NodeJS.ProcessEnv} env */
function loadConfig(env) {
  const url = env.POSTGRES_URL
  if (!url) throw new ConfigError('POSTGRES_URL', 'POSTGRES_URL is required: the database to insert into, e.g. postgres://amo@db.example.com:5432/app (the password may come from PGPASSWORD)')
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError('POSTGRES_URL', 'POSTGRES_URL must be a postgres:// or postgresql:// URL, e.g. postgres://amo@db.example.com:5432/app')
  }
  const table = env.POSTGRES_TABLE || 'kafka_messages'
  // Validated, then written unquoted into the SQL: PostgreSQL folds it to lower case, as it does
  // the name in your CREATE TABLE.
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/.test(table)) {
    throw new ConfigError('POSTGRES_TABLE', `POSTGRES_TABLE=${JSON.stringify(table)} must be a table name, optionally schema-qualified (letters, digits, _; e.g. public.kafka_messages)`)
  }
  const rawMax = env.POSTGRES_POOL_MAX || '10'
  const poolMax = Number(rawMax)
  if (!/^\d+$/.test(rawMax) || poolMax < 1 || poolMax > 1000) {
    throw new ConfigError('POSTGRES_POOL_MAX', `POSTGRES_POOL_MAX=${JSON.stringify(rawMax)} must be an integer from 1 to 1000`)
  }
  return { url, table, poolMax }
}

const config = loadConfig(process.env)

const INSERT = `INSERT INTO ${config.table} (topic, kafka_partition, kafka_offset, key, value, headers, produced_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, to_timestamp($7::double precision / 1000))`
const PROBE = `SELECT 1 FROM ${config.table} LIMIT 0`

const pool = new pg.Pool({
  connectionString: config.url,
  max: config.poolMax,
  connectionTimeoutMillis: 10_000,
  idleTimeoutMillis: 30_000,
  allowExitOnIdle: true, // idle connections never keep the process alive
})
/** @type {Logger | undefined} the logger of the latest call, for what happens between calls */
let lastLog
// An idle connection that fails (the server restarted) is dropped by the pool; without a listener
// its error would crash the process.
pool.on('error', (err) => lastLog?.warn({ err: err.message }, 'postgres: an idle connection failed; the pool replaces it'))

/** @param {unknown} err whether it is PostgreSQL's own answer, and its SQLSTATE */
function sqlstateOf(err) {
  return err instanceof pg.DatabaseError && typeof err.code === 'string' ? err.code : undefined
}

/**
 * PostgreSQL's CancelRequest for the statement running on `client`'s connection: a new
 * connection to the same server, 16 bytes (length, the code 80877102, the backend's process id
 * and secret key), and the server closes it. Best effort: resolves in any case, within 5 s.
 * @param {pg.PoolClient} client
 */
function sendCancel(client) {
  const { processID, secretKey, host, port } = /** @type {pg.PoolClient & { processID?: number, secretKey?: number }} */ (client)
  if (typeof processID !== 'number' || typeof secretKey !== 'number') return Promise.resolve()
  return new Promise((resolve) => {
    const socket = host.startsWith('/') ? net.connect(`${host}/.s.PGSQL.${port}`) : net.connect(port, host)
    const done = () => {
      socket.destroy()
      resolve(undefined)
    }
    socket.setTimeout(5000, done)
    socket.once('error', done)
    socket.once('close', done)
    socket.once('connect', () => {
      const packet = Buffer.alloc(16)
      packet.writeInt32BE(16, 0)
      packet.writeInt32BE(80877102, 4)
      packet.writeInt32BE(processID, 8)
      packet.writeInt32BE(secretKey, 12)
      socket.end(packet)
    })
  })
}

/**
 * `promise`, or a rejection with the signal's reason as soon as it aborts.
 * @template T
 * @param {Promise<T>} promise
 * @param {AbortSignal} signal
 * @returns {Promise<T>}
 */
function untilAborted(promise, signal) {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

/**
 * Run one statement on a pooled connection, the signal honoured on the server.
 * @param {string} sql
 * @param {unknown[]} params
 * @param {AbortSignal} signal
 */
async function run(sql, params, signal) {
  signal.throwIfAborted()
  const connecting = pool.connect()
  /** @type {pg.PoolClient} */
  let client
  try {
    client = await untilAborted(connecting, signal)
  } catch (err) {
    // Aborted while connecting: the connection, if it comes, goes back to the pool unused.
    if (signal.aborted) connecting.then((c) => c.release(), () => {})
    throw err
  }
  // While checked out, a connection error is not the pool's to handle: without a listener it
  // would be an uncaught 'error' event. The statement's own promise reports it.
  const onClientError = () => {}
  client.on('error', onClientError)
  let cancelled = false
  const onAbort = () => {
    cancelled = true
    void sendCancel(client)
  }
  signal.addEventListener('abort', onAbort, { once: true })
  const query = client.query(sql, params)
  const finish = (/** @type {unknown} */ err) => {
    signal.removeEventListener('abort', onAbort)
    client.removeListener('error', onClientError)
    const state = sqlstateOf(err)
    // Reuse the connection after a plain SQL error; close it after anything else (a network
    // error, a shutdown, or a cancel: one sent late must not hit the next statement).
    const keep = !cancelled && (err === undefined || (state !== undefined && !/^(08|57)/.test(state)))
    client.release(keep ? undefined : true)
  }
  // The connection is released when the statement settles, not when an abort rejects earlier.
  query.then(() => finish(undefined), finish)
  return untilAborted(query, signal)
}

/** @param {import('kafkajs').IHeaders} headers as JSON text: each value as UTF-8 text */
function headersJson(headers) {
  /** @type {Record<string, string | string[]>} */
  const out = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    out[name] = Array.isArray(value) ? value.map((v) => v.toString()) : value.toString()
  }
  return JSON.stringify(out)
}

/**
 * Insert the message.
 * @param {ConsumedMessage} message
 * @param {HandlerContext} context
 */
export default async function insert(message, { signal, log }) {
  lastLog = log
  const value = message.value === null ? null : JSON.stringify(Buffer.isBuffer(message.value) ? message.value.toString('base64') : message.value)
  const params = [message.topic, message.partition, message.offset, message.key, value, headersJson(message.headers), message.timestamp]
  try {
    await run(INSERT, params, signal)
  } catch (err) {
    if (signal.aborted && err === signal.reason) throw err
    const state = sqlstateOf(err)
    const detail = err instanceof pg.DatabaseError && err.detail ? ` (${err.detail})` : ''
    const what = `INSERT INTO ${config.table} of ${message.topic}/${message.partition}/${message.offset}`
    if (state !== undefined && /^(22|23)/.test(state)) {
      throw new MessageRejected(`${what} refused: ${/** @type {Error} */ (err).message}${detail} [SQLSTATE ${state}]`, state, err)
    }
    throw new PostgresError(`${what} failed: ${/** @type {Error} */ (err).message}${state ? ` [SQLSTATE ${state}]` : ''}`, state, err)
  }
}

/**
 * The database answers and the table is there: `SELECT 1 FROM <table> LIMIT 0` (no row read),
 * the signal honoured on the server as for an insert.
 * @param {ProbeContext} context
 */
export async function probe({ signal, log }) {
  lastLog = log
  try {
    await run(PROBE, [], signal)
  } catch (err) {
    if (signal.aborted && err === signal.reason) throw err
    const state = sqlstateOf(err)
    throw new PostgresError(`${PROBE} failed: ${/** @type {Error} */ (err).message}${state ? ` [SQLSTATE ${state}]` : ''}`, state, err)
  }
}
