/**
 * The downstream harness itself (harness/downstream/): the port it restarts on, finding
 * PostgreSQL's binaries (and the install hint when they are missing), the HTTP downstream's
 * record and rules across a SIGKILL, and PostgreSQL's stop, kill and start on the same port and
 * data. The example handlers' tests (webhook-example, postgres-example) rely on all of it.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { HttpDownstream, PostgresHarnessError, PostgresServer, findPostgresBin } from '../harness/downstream/index.ts'
import { canListen, candidatePorts, ephemeralRange } from '../harness/downstream/ports.ts'
import { childPids, isAlive } from '../harness/downstream/postgres-server.ts'

describe('ports a server can be restarted on', () => {
  it('reads the ephemeral range, and falls back to Linux defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'amo-ports-'))
    try {
      writeFileSync(join(dir, 'range'), '40000\t50000\n')
      assert.deepEqual(ephemeralRange(join(dir, 'range')), [40000, 50000])
      writeFileSync(join(dir, 'bad'), 'nonsense')
      assert.deepEqual(ephemeralRange(join(dir, 'bad')), [32768, 60999])
      assert.deepEqual(ephemeralRange(join(dir, 'missing')), [32768, 60999])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('picks candidates below the ephemeral range, or above it when it starts too low', () => {
    const below = candidatePorts([32768, 60999], 200)
    assert.equal(below.length, 200)
    assert.ok(below.every((p) => p >= 10_000 && p < 32768), `${below.filter((p) => p < 10_000 || p >= 32768)}`)
    assert.deepEqual(candidatePorts([32768, 60999], 2, () => 0), [10_000, 10_000])
    assert.deepEqual(candidatePorts([32768, 60999], 1, () => 0.999999), [32767])
    const above = candidatePorts([1024, 60000], 100)
    assert.ok(above.every((p) => p > 60000 && p <= 65535))
    assert.deepEqual(candidatePorts([1024, 65535], 3), [])
  })
})

describe('finding PostgreSQL', () => {
  it('names the package to install when the binaries are missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'amo-nopg-'))
    try {
      for (const attempt of [() => findPostgresBin(empty), () => findPostgresBin('', empty), () => findPostgresBin('', join(empty, 'absent'))]) {
        assert.throws(attempt, (err: unknown) => {
          assert.ok(err instanceof PostgresHarnessError)
          assert.equal(err.code, 'POSTGRES_MISSING')
          assert.match(err.message, /apt-get install -y postgresql/)
          return true
        })
      }
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  it("prefers Debian's 15 (what the tests run on), else the newest major", () => {
    const root = mkdtempSync(join(tmpdir(), 'amo-pgroot-'))
    try {
      const fake = (major: string) => {
        mkdirSync(join(root, major, 'bin'), { recursive: true })
        for (const f of ['initdb', 'postgres']) writeFileSync(join(root, major, 'bin', f), '')
      }
      fake('14')
      fake('16')
      mkdirSync(join(root, '17', 'bin'), { recursive: true }) // a client-only install: no server
      assert.equal(findPostgresBin('', root), join(root, '16', 'bin'))
      fake('15')
      assert.equal(findPostgresBin('', root), join(root, '15', 'bin'))
      assert.equal(findPostgresBin(join(root, '14', 'bin'), root), join(root, '14', 'bin'), 'POSTGRES_BIN_DIR wins')
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})

describe('HttpDownstream', () => {
  let down: HttpDownstream
  before(async () => {
    down = await HttpDownstream.start()
  })
  after(() => down?.destroy())

  const post = (body: unknown, key: string | undefined, signal = AbortSignal.timeout(10_000)) =>
    fetch(down.hookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify(body),
      signal,
    })

  it('answers 200 and records each request: key, method, path, status, body', async () => {
    assert.ok(down.port >= 10_000 && down.port < ephemeralRange()[0], `port ${down.port} is outside the ephemeral range`)
    const res = await post({ n: 1 }, 't/0/1')
    assert.equal(res.status, 200)
    await res.arrayBuffer()
    const head = await fetch(down.healthUrl, { method: 'HEAD' })
    assert.equal(head.status, 200)
    const got = down.received()
    assert.equal(got.length, 2)
    assert.deepEqual(
      got.map(({ method, path, key, status, body }) => ({ method, path, key, status, body })),
      [
        { method: 'POST', path: '/hook', key: 't/0/1', status: 200, body: '{"n":1}' },
        { method: 'HEAD', path: '/health', key: null, status: 200, body: '' },
      ],
    )
    assert.equal(got[0]!.pid, down.pid)
    assert.deepEqual(
      down.deliveries().map((r) => r.key),
      ['t/0/1'],
    )
  })

  it('answers by rules: the first match decides, until expires, hang never answers', async () => {
    down.answer([
      { bodyIncludes: '"invalid":true', status: 400 },
      { method: 'POST', path: '/slow', hang: true },
      { path: '/hook', status: 503, until: Date.now() + 60_000 },
      { path: '/gone', status: 500, until: Date.now() - 1 },
    ])
    assert.equal((await post({ invalid: true }, 'r/0/1')).status, 400)
    assert.equal((await post({ ok: true }, 'r/0/2')).status, 503)
    assert.equal((await fetch(`${down.url}/gone`, { method: 'POST', body: '{}' })).status, 200, 'an expired rule no longer matches')
    const hung = fetch(`${down.url}/slow`, { method: 'POST', body: '{}', headers: { 'idempotency-key': 'r/0/3' }, signal: AbortSignal.timeout(500) })
    await assert.rejects(hung, (err: Error) => err.name === 'TimeoutError')
    down.answer([])
    assert.equal((await post({ invalid: true }, 'r/0/4')).status, 200, 'answer([]) goes back to 200')
    const byKey = new Map(down.deliveries().map((r) => [r.key, r.status]))
    assert.equal(byKey.get('r/0/1'), 400)
    assert.equal(byKey.get('r/0/2'), 503)
    assert.equal(byKey.get('r/0/3'), null, 'a hung request is recorded with status null')
    assert.equal(byKey.get('r/0/4'), 200)
  })

  it('SIGKILLed: refuses connections, keeps its record; started again on the same port, with the same rules', async () => {
    down.answer([{ bodyIncludes: '"invalid":true', status: 400 }])
    const before = down.received().length
    const firstPid = down.pid
    await down.kill()
    assert.equal(down.running, false)
    await assert.rejects(post({ n: 2 }, 'k/0/1'), (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED')
    assert.equal(await canListen(down.port), true, 'nothing listens on the port while it is down')
    await down.start()
    assert.notEqual(down.pid, firstPid)
    assert.equal((await post({ n: 3 }, 'k/0/2')).status, 200)
    assert.equal((await post({ invalid: true }, 'k/0/3')).status, 400, 'the rules survive the restart')
    const got = down.received()
    assert.equal(got.length, before + 2, 'the record of the first process is kept, the refused request is not in it')
    assert.equal(got.at(-1)!.pid, down.pid)
    assert.ok(got.slice(0, before).every((r) => r.pid !== down.pid))
  })

  it('stop() and start() again; destroy() removes its directory and is idempotent', async () => {
    await down.stop()
    assert.equal(down.running, false)
    await down.start()
    assert.equal((await post({ n: 4 }, 's/0/1')).status, 200)
    const other = await HttpDownstream.start()
    assert.notEqual(other.port, down.port)
    await other.destroy()
    await other.destroy()
    assert.equal(existsSync(other.dir), false)
    assert.equal(other.running, false)
    await assert.rejects(other.start(), /after destroy/)
  })
})

describe('PostgresServer', () => {
  let pg: PostgresServer
  before(async () => {
    pg = await PostgresServer.start()
  })
  after(() => pg?.destroy())

  it("runs Debian's PostgreSQL in a temporary directory, on a loopback port, as a non-root user", async (t) => {
    t.diagnostic(`PostgreSQL ${pg.version}`)
    assert.match(pg.version, /^\d+\.\d+/)
    assert.equal(pg.connectionString, `postgres://postgres@127.0.0.1:${pg.port}/postgres`)
    const { rows } = await pg.query<{ port: string; data: string; uid: string }>(
      "SELECT current_setting('port') AS port, current_setting('data_directory') AS data, current_user AS uid",
    )
    assert.equal(rows[0]!.port, String(pg.port))
    assert.equal(rows[0]!.data, pg.dataDir)
    assert.ok(pg.dataDir.startsWith(tmpdir()))
    assert.equal(rows[0]!.uid, 'postgres')
    const osUid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pg.pid}/status`, 'utf8'))?.[1])
    assert.notEqual(osUid, 0, 'the postmaster does not run as root')
  })

  it('stop(): a fast shutdown that ends sessions with 57P01 and keeps the data; start() on the same port', async () => {
    await pg.query('CREATE TABLE kept (n int PRIMARY KEY)')
    await pg.query('INSERT INTO kept VALUES (1)')
    const port = pg.port
    const sleeping = assert.rejects(pg.query('SELECT pg_sleep(600)'), (err: Error & { code?: string }) => err.code === '57P01')
    await waitFor(async () => (await pg.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'")).rows[0]!.n === 1)
    await pg.stop()
    await sleeping
    assert.equal(pg.running, false)
    await assert.rejects(pg.query('SELECT 1'), /ECONNREFUSED/)
    await pg.start()
    assert.equal(pg.port, port)
    assert.deepEqual((await pg.query('SELECT n FROM kept')).rows, [{ n: 1 }])
  })

  it('kill(): the postmaster and every backend SIGKILLed, committed rows survive; start() recovers', async () => {
    await pg.query('INSERT INTO kept VALUES (2)')
    const sleeping = assert.rejects(pg.query('SELECT pg_sleep(600)'))
    await waitFor(async () => (await pg.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'")).rows[0]!.n === 1)
    const postmaster = pg.pid!
    const children = childPids(postmaster)
    assert.ok(children.length >= 4, `the postmaster has its background processes and a backend (${children.length})`)
    await pg.kill()
    assert.equal(pg.running, false)
    assert.equal(isAlive(postmaster), false)
    assert.deepEqual(children.filter(isAlive), [], 'no backend outlives the kill')
    await sleeping
    await pg.start()
    assert.deepEqual((await pg.query('SELECT n FROM kept ORDER BY n')).rows, [{ n: 1 }, { n: 2 }])
  })

  it('destroy() stops everything and removes the directory', async () => {
    const other = await PostgresServer.start()
    const pid = other.pid!
    await other.destroy()
    await other.destroy()
    assert.equal(isAlive(pid), false)
    assert.equal(existsSync(other.dir), false)
  })
})

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
