/**
 * Real downstream servers for tests, the ones example handlers call (examples/): started by the
 * tests as the Kafka launcher starts Apache Kafka, killed and started again on the same port for
 * outage tests, removed when this process exits (exit hooks and a watchdog, even on SIGKILL).
 *
 * HttpDownstream (http-downstream.ts): an HTTP server as a child process.
 *
 *   const down = await HttpDownstream.start({ rules: [] })  // fixed port outside the ephemeral range
 *   down.hookUrl / down.healthUrl / down.url / down.port
 *   down.answer([{ bodyIncludes: '"invalid":true', status: 400 },   // rules: first match decides,
 *                { status: 503, until: Date.now() + 5000 },          // none: 200
 *                { path: '/hook', hang: true }])
 *   await down.kill(); await down.start()                   // SIGKILL, then the same port again
 *   down.received()    // every request: { t, pid, method, path, key (Idempotency-Key), status, body }
 *   down.deliveries()  // the POSTs with an Idempotency-Key (count duplicates and losses on these)
 *   await down.destroy()
 *
 * PostgresServer (postgres-server.ts): Debian's PostgreSQL (15) in a temporary directory.
 *
 *   const pg = await PostgresServer.start()   // POSTGRES_MISSING (with `apt-get install -y postgresql`) when absent
 *   pg.connectionString / pg.port / pg.pid / pg.version
 *   await pg.query(sql, params)               // a connection of its own, closed after
 *   await pg.stop()                           // fast shutdown (sessions get 57P01), data kept
 *   await pg.kill()                           // SIGKILL postmaster and backends (a crash)
 *   await pg.start()                          // same port and data directory again
 *   await pg.destroy()
 *
 * Both: start() resolves once the server answers; kill() and stop() once its processes are
 * gone; destroy() is idempotent. Every API call may be made from a test's before/after hooks.
 */
// One concern a module:
//   http-downstream.ts   HttpDownstream: the child process, its rules and its record
//   http-server.mjs      the child itself (plain JavaScript: it starts with `node` alone)
//   postgres-server.ts   PostgresServer: initdb, postmaster, stop/kill/start, query
//   postgres-install.ts  finding Debian's binaries, running them as `postgres` when root
//   ports.ts             a free port outside the ephemeral range (safe to restart on)
//   cleanup.ts           exit hooks (the Kafka launcher's) and a watchdog per server
export { HttpDownstream, type HttpDownstreamOptions, type ReceivedRequest, type Rule } from './http-downstream.ts'
export { PostgresHarnessError, findPostgresBin, INSTALL_HINT, type PostgresErrorCode } from './postgres-install.ts'
export { PostgresServer, type PostgresOptions } from './postgres-server.ts'
export { stablePort } from './ports.ts'
