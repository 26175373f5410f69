/**
 * examples/postgres/handler.mjs against a real PostgreSQL (Debian's package, started by
 * harness/downstream/ in a temporary directory; without it every test here fails with the
 * `apt-get install -y postgresql` hint): the row really in the table, whose fault each SQLSTATE
 * is, the signal honoured ON THE SERVER (the statement cancelled: gone from pg_stat_activity), the
 * probe following the server down (fast shutdown, SIGKILL) and up, its configuration checked at
 * load; then run by the service itself (HANDLER=examples/postgres/handler.mjs) against the mock
 * broker.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import pg from 'pg'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { PostgresServer } from '../harness/downstream/index.ts'
import { eventually, produce } from '../harness/kafka-tools.ts'
import { startService } from '../harness/service-process.ts'
import { isMessageRejected } from '../src/errors.ts'
import type { ConsumedMessage, Handler, Probe } from '../src/message/handler.ts'
import { memoryLog } from './support/memory-log.ts'
import { envOf, parseDockerfile, stages } from './support/ship-dockerfile.ts'

const EXAMPLE = fileURLToPath(new URL('../examples/postgres/handler.mjs', import.meta.url))
const SCHEMA = readFileSync(new URL('../examples/postgres/schema.sql', import.meta.url), 'utf8')
const VARIABLES = ['POSTGRES_URL', 'POSTGRES_TABLE', 'POSTGRES_POOL_MAX']
const INSERTING = "query LIKE 'INSERT INTO kafka_messages%'"
const PROBING = "query = 'SELECT 1 FROM kafka_messages LIMIT 0'"

let instance = 0
/** The module as the service loads it, with `env` as its environment (a fresh instance each time). */
async function loadExample(env: Record<string, string>): Promise<{ handler: Handler; probe: Probe }> {
  const saved = Object.fromEntries(VARIABLES.map((v) => [v, process.env[v]]))
  for (const v of VARIABLES) delete process.env[v]
  Object.assign(process.env, env)
  try {
    const mod = (await import(`${pathToFileURL(EXAMPLE).href}?instance=${++instance}`)) as { default: Handler; probe: Probe }
    return { handler: mod.default, probe: mod.probe }
  } finally {
    for (const v of VARIABLES) {
      if (saved[v] === undefined) delete process.env[v]
      else process.env[v] = saved[v]
    }
  }
}

const { log } = memoryLog()
const ctx = (signal = AbortSignal.timeout(20_000)) => ({ signal, log })

let offset = 0
function message(value: ConsumedMessage['value'], extra: Partial<ConsumedMessage> = {}): ConsumedMessage {
  return { topic: 'orders', partition: 1, offset: String(offset++), key: Buffer.from('customer-7'), value, headers: {}, timestamp: '1765112400000', ...extra }
}

async function failure(p: unknown): Promise<Error & { code?: string; sqlstate?: string }> {
  try {
    await p
  } catch (err) {
    return err as Error & { code?: string; sqlstate?: string }
  }
  assert.fail('expected a rejection')
}

describe('the PostgreSQL example against a real PostgreSQL', () => {
  let server: PostgresServer
  let handler: Handler
  let probe: Probe
  const backends = async (where: string) =>
    (await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND ${where}`)).rows[0]!.n
  const rowsAt = async (m: ConsumedMessage) =>
    (await server.query('SELECT * FROM kafka_messages WHERE topic = $1 AND kafka_partition = $2 AND kafka_offset = $3', [m.topic, m.partition, m.offset])).rows

  before(async () => {
    server = await PostgresServer.start()
    await server.query(SCHEMA)
    // A message whose value has "sleep": N makes its INSERT take N seconds on the server.
    await server.query(`CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF jsonb_typeof(NEW.value) = 'object' AND NEW.value ? 'sleep' THEN PERFORM pg_sleep((NEW.value->>'sleep')::float); END IF;
        RETURN NEW;
      END $$`)
    await server.query('CREATE TRIGGER slow BEFORE INSERT ON kafka_messages FOR EACH ROW EXECUTE FUNCTION slow_insert()')
    ;({ handler, probe } = await loadExample({ POSTGRES_URL: server.connectionString }))
  })
  after(() => server?.destroy())

  it('inserts the message: the row is in the table with every column', async () => {
    const m = message({ id: 7, total: 12.5 }, { headers: { trace: 'abc', multi: ['a', Buffer.from('b')] } })
    await handler(m, ctx())
    const rows = await rowsAt(m)
    assert.equal(rows.length, 1)
    const row = rows[0] as Record<string, unknown>
    assert.equal(row.topic, 'orders')
    assert.equal(row.kafka_partition, 1)
    assert.equal(row.kafka_offset, m.offset) // bigint: pg returns it as a string
    assert.deepEqual(row.key, Buffer.from('customer-7'))
    assert.deepEqual(row.value, { id: 7, total: 12.5 })
    assert.deepEqual(row.headers, { trace: 'abc', multi: ['a', 'b'] })
    assert.equal((row.produced_at as Date).getTime(), 1765112400000)
  })

  it('stores a text value as a JSON string, a binary one as base64, a tombstone and a missing key as NULL', async () => {
    const text = message('plain text')
    const binary = message(Buffer.from([0, 1, 0xff]))
    const tombstone = message(null, { key: null })
    for (const m of [text, binary, tombstone]) await handler(m, ctx())
    assert.equal((await rowsAt(text))[0]?.value, 'plain text')
    assert.equal((await rowsAt(binary))[0]?.value, 'AAH/')
    assert.deepEqual(
      (await rowsAt(tombstone)).map((r) => [r.value, r.key]),
      [[null, null]],
    )
  })

  it('a second delivery of a message: 23505, rejected (the message), the table still holds one row', async () => {
    const m = message({ id: 'twice' })
    await handler(m, ctx())
    const err = await failure(handler(m, ctx()))
    assert.equal(err.code, 'AMO_MESSAGE_REJECTED')
    assert.equal(isMessageRejected(err), true)
    assert.equal(err.sqlstate, '23505')
    assert.match(err.message, /duplicate key value violates unique constraint "kafka_messages_pkey".*\[SQLSTATE 23505\]/)
    assert.equal((await rowsAt(m)).length, 1)
  })

  it('class 22 (a \\u0000 jsonb cannot hold: 22P05) and class 23 (a CHECK: 23514): rejected, nothing stored', async () => {
    const nul = message({ text: 'a\u0000b' })
    const errNul = await failure(handler(nul, ctx()))
    assert.equal(isMessageRejected(errNul), true, errNul.message)
    assert.equal(errNul.sqlstate, '22P05')
    assert.equal((await rowsAt(nul)).length, 0)

    await server.query("ALTER TABLE kafka_messages ADD CONSTRAINT not_forbidden CHECK (jsonb_typeof(value) IS DISTINCT FROM 'object' OR NOT value ? 'forbidden')")
    try {
      const bad = message({ forbidden: true })
      const errCheck = await failure(handler(bad, ctx()))
      assert.equal(isMessageRejected(errCheck), true, errCheck.message)
      assert.equal(errCheck.sqlstate, '23514')
      assert.equal((await rowsAt(bad)).length, 0)
      await handler(message({ allowed: true }), ctx()) // the connection is fine: the next message goes in
    } finally {
      await server.query('ALTER TABLE kafka_messages DROP CONSTRAINT not_forbidden')
    }
  })

  it('aborted during the INSERT: rejects with the reason, and the statement is cancelled on the server', { timeout: 60_000 }, async () => {
    const m = message({ sleep: 600 })
    const controller = new AbortController()
    const call = handler(m, ctx(controller.signal))
    assert.ok(await eventually(async () => (await backends(`${INSERTING} AND wait_event = 'PgSleep'`)) === 1, 20_000), 'the INSERT is running on the server')
    const reason = new Error('handler timeout (test)')
    controller.abort(reason)
    assert.equal(await failure(call), reason)
    // It would sleep for 600 s: gone within 20 s means the cancel request stopped it.
    assert.ok(await eventually(async () => (await backends(INSERTING)) === 0, 20_000), 'no INSERT still running on the server')
    assert.equal((await rowsAt(m)).length, 0, 'the cancelled INSERT stored nothing')
    await handler(message({ id: 'next' }), ctx()) // the pool goes on
    // Already aborted: nothing is sent.
    assert.equal(await failure(handler(message({ id: 'late' }), ctx(AbortSignal.abort(reason)))), reason)
  })

  it('the probe: SELECT 1 FROM the table; blocked by a lock, it rejects on abort and its statement is cancelled', { timeout: 60_000 }, async () => {
    await probe(ctx())
    const locker = new pg.Client({ connectionString: server.connectionString })
    await locker.connect()
    try {
      await locker.query("SET lock_timeout = '10s'") // an INSERT left running by a failed case must fail this one, not hang it
      await locker.query('BEGIN')
      await locker.query('LOCK TABLE kafka_messages IN ACCESS EXCLUSIVE MODE')
      const controller = new AbortController()
      const check = probe(ctx(controller.signal))
      assert.ok(await eventually(async () => (await backends(`${PROBING} AND wait_event_type = 'Lock'`)) === 1, 20_000), 'the probe waits on the lock')
      const reason = new Error('probe time limit (test)')
      controller.abort(reason)
      assert.equal(await failure(check), reason)
      assert.ok(await eventually(async () => (await backends(PROBING)) === 0, 20_000), 'the probe no longer waits on the server')
    } finally {
      await locker.query('ROLLBACK').catch(() => {})
      await locker.end()
    }
    await probe(ctx())
  })

  it("a fast shutdown during an INSERT: 57P01, the database's fault; probe and handler fail while it is down, succeed once it is back", { timeout: 60_000 }, async () => {
    const m = message({ sleep: 600 })
    const call = Promise.resolve(handler(m, ctx()))
    call.catch(() => {})
    assert.ok(await eventually(async () => (await backends(`${INSERTING} AND wait_event = 'PgSleep'`)) === 1, 20_000))
    await server.stop()
    const err = await failure(call)
    assert.equal(err.sqlstate, '57P01', err.message)
    assert.equal(err.code, 'POSTGRES_FAILED')
    assert.equal(isMessageRejected(err), false)

    const down = await failure(handler(message({ id: 'while down' }), ctx()))
    assert.equal(isMessageRejected(down), false)
    assert.equal(down.code, 'POSTGRES_FAILED')
    assert.match(down.message, /ECONNREFUSED/)
    const probeErr = await failure(probe(ctx()))
    assert.equal(probeErr.code, 'POSTGRES_FAILED')
    assert.equal(isMessageRejected(probeErr), false)

    await server.start()
    await probe(ctx())
    const after = message({ id: 'after restart' })
    await handler(after, ctx())
    assert.equal((await rowsAt(after)).length, 1)
  })

  it('SIGKILL (a crash): probe and handler fail, not rejected; started again, both succeed and the rows from before are there', async () => {
    const before = message({ id: 'before crash' })
    await handler(before, ctx())
    await probe(ctx()) // a pooled connection is idle when the server dies
    await server.kill()
    const err = await failure(handler(message({ id: 'during crash' }), ctx()))
    assert.equal(isMessageRejected(err), false, err.message)
    assert.equal(err.code, 'POSTGRES_FAILED')
    assert.equal(isMessageRejected(await failure(probe(ctx()))), false)
    await server.start()
    await probe(ctx())
    const after = message({ id: 'after crash' })
    await handler(after, ctx())
    assert.equal((await rowsAt(before)).length, 1)
    assert.equal((await rowsAt(after)).length, 1)
  })

  it("a missing table: the probe and the handler fail with 42P01, the database's fault, not the message's", async () => {
    const other = await loadExample({ POSTGRES_URL: server.connectionString, POSTGRES_TABLE: 'public.no_such_table' })
    const probeErr = await failure(other.probe(ctx()))
    assert.equal(probeErr.sqlstate, '42P01')
    assert.equal(isMessageRejected(probeErr), false)
    const err = await failure(other.handler(message({ id: 1 }), ctx()))
    assert.equal(err.sqlstate, '42P01')
    assert.equal(isMessageRejected(err), false)
  })

  it('checks its configuration at load, naming the variable', async () => {
    const url = server.connectionString
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{}, 'POSTGRES_URL', /^POSTGRES_URL is required/],
      [{ POSTGRES_URL: 'mysql://db/app' }, 'POSTGRES_URL', /^POSTGRES_URL must be a postgres:\/\/ or postgresql:\/\/ URL/],
      [{ POSTGRES_URL: url, POSTGRES_TABLE: 'x; DROP TABLE y' }, 'POSTGRES_TABLE', /^POSTGRES_TABLE="x; DROP TABLE y" must be a table name/],
      [{ POSTGRES_URL: url, POSTGRES_TABLE: 'a.b.c' }, 'POSTGRES_TABLE', /must be a table name/],
      [{ POSTGRES_URL: url, POSTGRES_POOL_MAX: '0' }, 'POSTGRES_POOL_MAX', /^POSTGRES_POOL_MAX="0" must be an integer from 1 to 1000/],
      [{ POSTGRES_URL: url, POSTGRES_POOL_MAX: 'ten' }, 'POSTGRES_POOL_MAX', /must be an integer/],
    ]
    for (const [env, variable, says] of cases) {
      const err = (await failure(loadExample(env))) as Error & { code?: string; variable?: string }
      assert.equal(err.code, 'AMO_CONFIG_INVALID')
      assert.equal(err.variable, variable)
      assert.match(err.message, says)
    }
  })

  it("pins in examples/postgres/package.json (the image's pg) the pg version the repository tests", () => {
    const example = JSON.parse(readFileSync(new URL('../examples/postgres/package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }
    const exampleLock = JSON.parse(readFileSync(new URL('../examples/postgres/package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, { version: string }> }
    const rootLock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, { version: string }> }
    const tested = rootLock.packages['node_modules/pg']!.version
    assert.equal(example.dependencies.pg, tested)
    assert.equal(exampleLock.packages['node_modules/pg']!.version, tested)
  })
})

describe("the PostgreSQL example's image", () => {
  it('builds on the service image of this version, installs pg from the lock file as root, runs as 1000:1000 with HANDLER at the copy', () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    const [stage, ...more] = stages(parseDockerfile(readFileSync(new URL('../examples/postgres/Dockerfile', import.meta.url), 'utf8')))
    assert.equal(more.length, 0)
    assert.equal(stage!.image, `amo-consumer:${version}`)
    const steps = stage!.instructions.map((i) => `${i.keyword} ${i.args}`)
    const at = (prefix: string) => steps.findIndex((s) => s.startsWith(prefix))
    assert.ok(at('USER root') >= 0 && at('USER root') < at('RUN npm ci --omit=dev'), steps.join('\n'))
    assert.ok(at('WORKDIR /app/handlers') < at('COPY package.json package-lock.json ./'))
    assert.ok(at('COPY package.json package-lock.json ./') < at('RUN npm ci --omit=dev'))
    assert.ok(at('COPY handler.mjs schema.sql ./') > at('RUN npm ci --omit=dev'))
    assert.equal(steps.at(-3), 'WORKDIR /app')
    assert.equal(steps.filter((s) => s.startsWith('USER ')).at(-1), 'USER 1000:1000')
    assert.equal(envOf(stage!).get('HANDLER'), '/app/handlers/handler.mjs')
  })
})

describe('the PostgreSQL example run by the service (mock broker)', () => {
  let cluster: MockCluster
  let server: PostgresServer
  before(async () => {
    cluster = MockCluster.start({ brokers: 1, topics: { orders: 3 } })
    server = await PostgresServer.start()
    await server.query(SCHEMA)
  })
  after(async () => {
    cluster?.close()
    await server?.destroy()
  })

  it('HANDLER=examples/postgres/handler.mjs: one row per message, a bad one refused and counted failed', { timeout: 120_000 }, async () => {
    const messages = Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, value: JSON.stringify(i === 7 ? { seq: i, text: 'nul \u0000' } : { seq: i }) }))
    await produce(cluster.brokers, 'orders', messages)
    const svc = startService({
      KAFKA_BROKERS: cluster.brokers.join(','),
      KAFKA_TOPICS: 'orders',
      KAFKA_GROUP_ID: 'postgres-example',
      HANDLER: 'examples/postgres/handler.mjs',
      POSTGRES_URL: server.connectionString,
    })
    try {
      assert.ok(await eventually(async () => (await svc.metric('consumer_messages_processed_total')) === 30, 60_000), svc.tail())
      const { rows } = await server.query<{ p: number; o: string; seq: number }>(
        "SELECT kafka_partition AS p, kafka_offset AS o, (value->>'seq')::int AS seq FROM kafka_messages WHERE topic = 'orders' ORDER BY seq",
      )
      assert.deepEqual(
        rows.map((r) => r.seq),
        Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 7),
      )
      for (const r of rows) assert.deepEqual([r.p, Number(r.o)], [r.seq % 3, Math.floor(r.seq / 3)])
      assert.equal(await svc.metric('consumer_messages_processed_total', { status: 'failed' }), 1)
      const warn = svc.logs.find((l) => l.level >= 40 && JSON.stringify(l).includes('22P05'))
      assert.ok(warn, `the refused message is logged with its SQLSTATE\n${svc.tail()}`)
    } finally {
      const exit = await svc.stop()
      assert.equal(exit.code, 0, svc.tail())
    }
  })
})
