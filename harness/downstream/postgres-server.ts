/**
 * A real PostgreSQL server for tests: Debian's binaries (postgres-install.ts), a cluster made by
 * initdb in a temporary directory, the postmaster on a fixed loopback port (chosen at the first
 * start, outside the ephemeral range), trust authentication for the superuser `postgres`.
 *
 *   const pg = await PostgresServer.start()   // initdb + start; throws POSTGRES_MISSING with the install hint
 *   pg.connectionString                       // postgres://postgres@127.0.0.1:<port>/postgres
 *   await pg.query('SELECT 1')                // a short-lived connection of its own
 *   await pg.stop()                           // fast shutdown (SIGINT): sessions get 57P01, data kept
 *   await pg.kill()                           // SIGKILL the postmaster and every backend: a crash
 *   await pg.start()                          // again, same port and data (crash recovery after kill)
 *   await pg.destroy()                        // kill, remove the directory (idempotent; also at exit)
 *
 * Settings for speed that keep every committed row across a kill: fsync=off and
 * full_page_writes=off (a killed process's writes are in the kernel already; only a machine crash
 * would lose them), synchronous_commit stays on (a commit is written before it is acknowledged).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync, type WriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { Watchdog, register, unregister } from './cleanup.ts'
import { PostgresHarnessError, findPostgresBin, runAs, type RunAs } from './postgres-install.ts'
import { stablePort } from './ports.ts'

export interface PostgresOptions {
  /** Directory of initdb and postgres (default: POSTGRES_BIN_DIR, else Debian's). */
  binDir?: string
  /** Extra server settings (`-c name=value`). */
  settings?: Record<string, string>
  /** Every line the server writes (also kept in <dir>/postgres.log). */
  log?: (line: string) => void
}

const START_TIMEOUT_MS = 60_000

/** The direct children of `pid`, from /proc (each backend, the checkpointer, the WAL writer...). */
export function childPids(pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** Whether `pid` is a live process (a zombie is not). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

export class PostgresServer {
  /** The temporary directory: data/ (the cluster), the socket, postgres.log. */
  readonly dir: string
  readonly dataDir: string
  /** PostgreSQL's version, from `postgres --version` (e.g. "15.14"). */
  readonly version: string
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private logFile: WriteStream | undefined
  private readonly recent: string[] = []
  private readonly watchdog = new Watchdog()
  private destroyed = false

  private constructor(
    readonly port: number,
    dir: string,
    private readonly bin: string,
    private readonly user: RunAs,
    private readonly opts: PostgresOptions,
  ) {
    this.dir = dir
    this.dataDir = join(dir, 'data')
    this.version = /(\d+(?:\.\d+)*)/.exec(spawnSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 'unknown'
    this.watchdog.watch('dir', dir)
    register(this)
  }

  /** initdb in a new temporary directory, then start; resolves once it accepts connections. */
  static async start(opts: PostgresOptions = {}): Promise<PostgresServer> {
    const bin = findPostgresBin(opts.binDir)
    const user = runAs()
    const dir = mkdtempSync(join(tmpdir(), 'amo-postgres-'))
    if (user.prefix.length > 0) chownSync(dir, user.uid, user.gid)
    const server = new PostgresServer(await stablePort(), dir, bin, user, opts)
    try {
      server.initdb()
      await server.start()
      return server
    } catch (err) {
      await server.destroy()
      throw err
    }
  }

  /** postgres://postgres@127.0.0.1:<port>/postgres */
  get connectionString(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }
  /** The postmaster's pid while it runs. */
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined
  }
  get running(): boolean {
    return this.pid !== undefined
  }

  private initdb(): void {
    const r = spawnSync(
      this.user.prefix[0] ?? join(this.bin, 'initdb'),
      [...this.user.prefix.slice(1), ...(this.user.prefix.length ? [join(this.bin, 'initdb')] : []), '-D', this.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'],
      { cwd: this.dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } },
    )
    if (r.error || r.status !== 0) {
      throw new PostgresHarnessError('POSTGRES_INIT_FAILED', `initdb failed (${r.error?.message ?? `exit ${r.status}`}):\n${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim()}`)
    }
  }

  /**
   * Start the postmaster (again) on the same port and data directory; resolves once a connection
   * runs `SELECT 1` (after a kill, once crash recovery is done). Right after a kill the old
   * backends may hold the shared memory or the port for a moment: that is retried for 10 s.
   */
  async start(): Promise<void> {
    if (this.destroyed) throw new PostgresHarnessError('POSTGRES_START_FAILED', 'PostgresServer: start() after destroy()')
    if (this.running) throw new PostgresHarnessError('POSTGRES_START_FAILED', `PostgresServer: already running on port ${this.port}`)
    const retryUntil = Date.now() + 10_000
    for (;;) {
      this.spawnPostmaster()
      const outcome = await this.waitUp()
      if (outcome === 'up') return
      const transient = /pre-existing shared memory block|could not bind|lock file .* already exists|Address already in use/i.test(outcome)
      if (!transient || Date.now() > retryUntil) {
        await this.kill()
        throw new PostgresHarnessError('POSTGRES_START_FAILED', `PostgreSQL ${this.version} did not start on port ${this.port}: ${outcome}`)
      }
      await sleep(250)
    }
  }

  private spawnPostmaster(): void {
    this.logFile ??= createWriteStream(join(this.dir, 'postgres.log'), { flags: 'a' })
    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: this.dir,
      fsync: 'off',
      full_page_writes: 'off',
      max_connections: '100',
      shared_buffers: '32MB',
      ...this.opts.settings,
    }
    const args = [join(this.bin, 'postgres'), '-D', this.dataDir, '-p', String(this.port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]
    const [cmd, ...rest] = [...this.user.prefix, ...args] as [string, ...string[]]
    const child = spawn(cmd, rest, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } })
    this.child = child
    const pid = child.pid
    if (pid) this.watchdog.watch('pid', pid)
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (pid) this.watchdog.forget('pid', pid)
        resolve()
      })
      child.once('error', (err) => {
        this.line(`[harness] could not start postgres: ${err.message}`)
        resolve()
      })
    })
    let buf = ''
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8')
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        this.line(buf.slice(0, nl))
        buf = buf.slice(nl + 1)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.unref()
    for (const s of [child.stdout, child.stderr] as unknown as Array<{ unref?: () => void }>) s.unref?.()
  }

  private line(l: string): void {
    this.recent.push(l)
    if (this.recent.length > 40) this.recent.shift()
    this.logFile?.write(`${l}\n`)
    this.opts.log?.(l)
  }

  /** 'up', or why not (the postmaster exited, or the deadline passed), with its last lines. */
  private async waitUp(): Promise<string> {
    const deadline = Date.now() + START_TIMEOUT_MS
    let last = ''
    for (;;) {
      if (!this.running) {
        await this.exited
        return `the postmaster exited during start; its last lines (${join(this.dir, 'postgres.log')}):\n${this.recent.slice(-15).join('\n')}`
      }
      try {
        await this.query('SELECT 1')
        return 'up'
      } catch (err) {
        last = (err as Error).message
      }
      if (Date.now() > deadline) return `no answer within ${START_TIMEOUT_MS} ms (${last}); its last lines:\n${this.recent.slice(-15).join('\n')}`
      await sleep(100)
    }
  }

  /** Run one statement on a connection of its own (opened and closed here). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: 5000 })
    client.on('error', () => {}) // a server killed under an idle client: the query below says so
    await client.connect()
    try {
      return await client.query<R>(sql, params)
    } finally {
      await client.end().catch(() => {})
    }
  }

  /** Fast shutdown (SIGINT): sessions end with 57P01, a checkpoint, exit. Resolves once it exited. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.child!.kill('SIGINT')
    const timer = setTimeout(() => void this.kill(), 60_000)
    await this.exited
    clearTimeout(timer)
  }

  /**
   * SIGKILL the postmaster, then every process it started (backends make themselves session
   * leaders, so a process group signal would miss them): nothing runs, nothing is flushed, as
   * in a crash. Resolves once every one of them is gone.
   */
  async kill(): Promise<void> {
    const pid = this.pid
    if (pid === undefined) return
    const children = childPids(pid)
    this.child!.kill('SIGKILL')
    for (const c of [...children, ...childPids(pid)]) {
      try {
        process.kill(c, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    const keepAlive = setInterval(() => {}, 1000) // the child is unref'd
    await this.exited
    while (children.some(isAlive)) await sleep(20)
    clearInterval(keepAlive)
  }

  /** Kill the server and remove its directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    await this.kill()
    this.destroyed = true
    this.logFile?.end()
    rmSync(this.dir, { recursive: true, force: true })
    this.watchdog.forget('dir', this.dir)
    this.watchdog.close()
    unregister(this)
  }

  /** @internal synchronous cleanup, for the exit hook. */
  killNow(): void {
    if (this.destroyed) return
    this.destroyed = true
    const pid = this.pid
    if (pid !== undefined) {
      const children = childPids(pid)
      this.child!.kill('SIGKILL')
      for (const c of children) {
        try {
          process.kill(c, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    }
    try {
      rmSync(this.dir, { recursive: true, force: true })
    } catch {
      // a backend may still be writing; the watchdog removes it once the server is gone
    }
    unregister(this)
  }
}
