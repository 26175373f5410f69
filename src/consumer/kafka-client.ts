import net from 'node:net'
import tls from 'node:tls'
import { Kafka, logLevel, type ISocketFactory, type logCreator, type RetryOptions, type SASLOptions } from 'kafkajs'
import type { Logger } from 'pino'
import type { ServiceConfig } from '../config/load.ts'

const KAFKAJS_LEVEL: Record<string, logLevel> = {
  trace: logLevel.DEBUG,
  debug: logLevel.DEBUG,
  info: logLevel.INFO,
  warn: logLevel.WARN,
  error: logLevel.ERROR,
  fatal: logLevel.ERROR,
  silent: logLevel.NOTHING,
}

/**
 * kafkajs logs every failed connection attempt of its own retries at error level, with a stack
 * ("Connection error: connect ECONNREFUSED", "Failed to connect to seed broker, trying another
 * broker from the list", "Crash: …", "Restarting the consumer in …"): a dozen error lines per
 * start-up attempt while a broker is down. The service reports those outcomes itself, one warn
 * line per attempt (connect-loop.ts) and one per consumer crash (service.ts), so these lines are
 * kept at debug, as are the dead-letter producer's send failures and retry notes (dead-letter/
 * reports those episodes itself). Other kafkajs errors that kafkajs retries on its own (a protocol
 * error in a response) are warnings; the rest keep kafkajs's level (an authentication failure
 * stays an error).
 */
export function kafkajsLevel(namespace: string, level: logLevel, message: string): logLevel {
  // The dead-letter producer resends the same batch itself and reports each trouble episode in
  // one line of its own (dead-letter/report.ts): kafkajs's notes on it are debug.
  if (namespace === 'Producer' && level === logLevel.WARN && /^Limiting retries for the idempotent producer/.test(message)) return logLevel.DEBUG
  if (level !== logLevel.ERROR) return level
  if (namespace === 'Producer' && /^Failed to send messages: /.test(message)) return logLevel.DEBUG
  if (namespace === 'Connection') return /^Response /.test(message) ? logLevel.WARN : logLevel.DEBUG
  if (namespace === 'BrokerPool' && /^Failed to connect to (seed )?broker/.test(message)) return logLevel.DEBUG
  if (namespace === 'Consumer' && /^(Crash: |Restarting the consumer in )/.test(message)) return logLevel.DEBUG
  return level
}

/** Route kafkajs's own log lines into pino, as `component: "kafkajs"`, at the level kafkajsLevel() gives. */
export function pinoLogCreator(log: Logger): logCreator {
  const child = log.child({ component: 'kafkajs' })
  return () =>
    ({ namespace, level, log: entry }) => {
      const { message, timestamp: _t, logger: _l, ...extra } = entry
      const fields = { namespace, ...extra }
      const mapped = kafkajsLevel(namespace, level, message)
      if (mapped === logLevel.ERROR) child.error(fields, message)
      else if (mapped === logLevel.WARN) child.warn(fields, message)
      else if (mapped === logLevel.INFO) child.info(fields, message)
      else child.debug(fields, message)
    }
}

/**
 * kafkajs's own socket factory, plus TCP_NODELAY (kafkajs leaves Nagle's algorithm on; the Java
 * client and the Kafka broker both turn it off). Measured against the test broker it made no
 * difference on its own: the stalls of concurrent per-partition commits were removed by
 * coalescing them (commit-batcher.ts), not by this.
 */
export const noDelaySocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
    : net.connect({ host, port }, onConnect)
  socket.setKeepAlive(true, 60_000)
  socket.setNoDelay(true)
  return unrefSafe(socket)
}

/**
 * The `MaxListenersExceededWarning: … 11 connect listeners added to [Socket]` seen while a group
 * coordinator is down is a real (small) leak, fixed here. kafkajs's Connection.disconnect()
 * (node_modules/kafkajs/src/network/connection.js) ends with `this.socket.end(); this.socket.unref()`,
 * and kafkajs disconnects a broker's connection again and again while it cannot reach it, without
 * connecting in between. A socket whose connect failed (ECONNREFUSED) is destroyed and has no
 * handle, and Node's Socket.prototype.unref() on a socket without a handle defers itself with
 * `this.once('connect', this.unref)` — for a 'connect' that never comes. So each disconnect() of
 * the dead socket adds one listener, held until a new connect() replaces the socket: a leak that
 * grows for as long as the outage lasts (traced with a preload that logged the warning's stack:
 * Socket.unref <- Connection.disconnect). unref() of a destroyed socket has nothing to do, so it
 * returns at once here.
 */
export function unrefSafe<S extends net.Socket>(socket: S): S {
  const unref = socket.unref.bind(socket)
  socket.unref = () => (socket.destroyed ? socket : unref())
  return socket
}

/** Error a socket is destroyed with when the service gives up its connections (see Sockets.abort). */
export class ConnectionsAbandoned extends Error {
  constructor() {
    super('the service is shutting down: connection abandoned')
    this.name = 'ConnectionsAbandoned'
  }
}

/**
 * The sockets one Kafka client opened. kafkajs's disconnect() waits for every request in flight,
 * and a JoinGroup can be held by the coordinator for up to the rebalance timeout; abort() destroys
 * the sockets instead, so kafkajs rejects what is pending at once (used at shutdown when no group
 * was joined: nothing is at risk, so nothing is worth waiting for).
 */
export class Sockets {
  private readonly open = new Set<net.Socket>()

  readonly factory: ISocketFactory = (args) => {
    const socket = noDelaySocketFactory(args)
    this.open.add(socket)
    socket.once('close', () => this.open.delete(socket))
    return socket
  }

  get size(): number {
    return this.open.size
  }

  abort(): void {
    for (const socket of this.open) socket.destroy(new ConnectionsAbandoned())
    this.open.clear()
  }
}

export interface KafkaClientOptions {
  /** kafkajs's retry settings for this client (default: 5 retries from 300 ms). */
  retry?: RetryOptions
  /** Track the client's sockets here (default: not tracked). */
  sockets?: Sockets
}

export function createKafka(config: ServiceConfig, log: Logger, opts: KafkaClientOptions = {}): Kafka {
  return new Kafka({
    clientId: config.clientId,
    brokers: config.brokers,
    ssl: config.ssl,
    sasl: config.sasl as SASLOptions | undefined,
    connectionTimeout: 3000,
    socketFactory: opts.sockets?.factory ?? noDelaySocketFactory,
    logLevel: KAFKAJS_LEVEL[config.logLevel] ?? logLevel.INFO,
    logCreator: pinoLogCreator(log),
    retry: opts.retry ?? { initialRetryTime: 300, retries: 5 },
  })
}

/**
 * The client of the start-up probe (topics.ts): one try per seed broker and no more, so that an
 * unreachable cluster fails the attempt in milliseconds (not after kafkajs's ~9 s of retries) and
 * the connect loop's back-off is the real delay between two attempts.
 */
export function createProbeKafka(config: ServiceConfig, log: Logger, sockets?: Sockets): Kafka {
  return createKafka(config, log, {
    retry: { retries: Math.max(0, config.brokers.length - 1), initialRetryTime: 100, maxRetryTime: 1000 },
    ...(sockets ? { sockets } : {}),
  })
}
