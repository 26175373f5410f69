/**
 * A real HTTP downstream for tests: a child process (http-server.mjs) on a fixed loopback port,
 * which can be SIGKILLed and started again on that port, which records every request it received
 * in a file (durable across kills), and whose answers are set by rules.
 *
 *   const down = await HttpDownstream.start()            // free port outside the ephemeral range
 *   down.hookUrl, down.healthUrl                         // http://127.0.0.1:<port>/hook, /health
 *   down.answer([{ bodyIncludes: '"invalid"', status: 400 }, { status: 503, until: Date.now() + 5000 }])
 *   await down.kill()  ...  await down.start()           // SIGKILL; again on the same port
 *   down.received()                                      // every request, in arrival order
 *   down.deliveries()                                    // the POSTs carrying an Idempotency-Key
 *   await down.destroy()                                 // kill, remove its directory (idempotent)
 *
 * Rules (the first that matches decides; none matches: 200): match on `method`, `path`,
 * `bodyIncludes` (text in the body), `until` (before this time, ms since the epoch); answer with
 * `status`, after `delayMs`, or `hang: true` (never answer). `answer()` takes effect for the next
 * request, also across kills; `answer([])` goes back to 200 for everything.
 *
 * A request is recorded once its body is read and before it is answered: a line in
 * `received()` means the downstream got the request, whether or not the client saw the answer
 * (the process may be killed in between). `status` is the answer it decided on (`null` for hang).
 * Each line also holds the time, the server's pid, the headers and the body (first 64 KiB).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Watchdog, register, unregister } from './cleanup.ts'
import { stablePort } from './ports.ts'

const SERVER = fileURLToPath(new URL('http-server.mjs', import.meta.url))

/** How to answer matching requests (see the module comment). */
export interface Rule {
  method?: string
  path?: string
  bodyIncludes?: string
  until?: number
  status?: number
  delayMs?: number
  hang?: boolean
}

/** One request as the downstream recorded it. */
export interface ReceivedRequest {
  /** When it was received, ms since the epoch. */
  t: number
  /** The server process that received it (changes with every start). */
  pid: number
  method: string
  path: string
  /** The Idempotency-Key header, or null. */
  key: string | null
  /** The status it was answered with; null: left hanging. */
  status: number | null
  /** Its headers (names in lower case). */
  headers: Record<string, string | string[]>
  /** The body as text (cut after 64 KiB). */
  body: string
}

export interface HttpDownstreamOptions {
  /** The rules in force from the first request (default: none, every request 200). */
  rules?: Rule[]
  /** A port to use instead of a free one outside the ephemeral range. */
  port?: number
}

export class HttpDownstream {
  /** The directory holding requests.jsonl and rules.json (removed by destroy()). */
  readonly dir: string
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private readonly watchdog = new Watchdog()
  private destroyed = false
  private stderr = ''

  private constructor(
    readonly port: number,
    dir: string,
  ) {
    this.dir = dir
    this.watchdog.watch('dir', dir)
    register(this)
  }

  static async start(opts: HttpDownstreamOptions = {}): Promise<HttpDownstream> {
    const dir = mkdtempSync(join(tmpdir(), 'amo-http-downstream-'))
    // A port taken between the check and the child's listen: try another (only when we chose it).
    for (let attempt = 1; ; attempt++) {
      const down = new HttpDownstream(opts.port ?? (await stablePort()), dir)
      down.answer(opts.rules ?? [])
      try {
        await down.start()
        return down
      } catch (err) {
        down.release()
        if (opts.port !== undefined || attempt >= 5 || !/EADDRINUSE/.test((err as Error).message)) {
          rmSync(dir, { recursive: true, force: true })
          throw err
        }
      }
    }
  }

  /** http://127.0.0.1:<port> */
  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }
  /** Where a webhook handler should POST: <url>/hook (any path works; this one is conventional). */
  get hookUrl(): string {
    return `${this.url}/hook`
  }
  /** A health path (answered 200 like any other unless a rule says otherwise). */
  get healthUrl(): string {
    return `${this.url}/health`
  }
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined
  }
  get running(): boolean {
    return this.pid !== undefined
  }

  /**
   * Start the server process (again) on this port; resolves once it accepts connections. Right
   * after a kill the port may still be held for a moment: EADDRINUSE is retried for 10 s.
   */
  async start(): Promise<void> {
    if (this.destroyed) throw new Error('HttpDownstream: start() after destroy()')
    if (this.running) throw new Error(`HttpDownstream: already running on port ${this.port}`)
    const deadline = Date.now() + 10_000
    for (;;) {
      const outcome = await this.spawnOnce()
      if (outcome === 'listening') return
      if (outcome !== 'EADDRINUSE' || Date.now() > deadline) {
        throw new Error(`the HTTP downstream could not listen on 127.0.0.1:${this.port}: ${outcome}${this.stderr ? `\n${this.stderr}` : ''}`)
      }
      await sleep(200)
    }
  }

  private spawnOnce(): Promise<string> {
    this.stderr = ''
    const child = spawn(process.execPath, [SERVER, this.dir, String(this.port)], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    const pid = child.pid
    if (pid) this.watchdog.watch('pid', pid)
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (pid) this.watchdog.forget('pid', pid)
        resolve()
      })
    })
    child.stderr!.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString('utf8')).slice(-4000)
    })
    return new Promise<string>((resolve) => {
      let out = ''
      const onData = (c: Buffer) => {
        out += c.toString('utf8')
        const m = /^(listening \d+|listen-error (\S+))\n/m.exec(out)
        if (!m) return
        child.stdout!.off('data', onData)
        child.off('exit', onExit)
        resolve(m[2] ?? 'listening')
      }
      const onExit = (code: number | null, signal: string | null) => resolve(`exited (${code ?? signal}) before listening`)
      child.stdout!.on('data', onData)
      child.once('exit', onExit)
      child.once('error', (err) => resolve(`cannot start node: ${err.message}`))
    }).then((outcome) => {
      // Once up, nothing of the child may keep this process alive.
      child.unref()
      for (const s of [child.stdout, child.stderr] as unknown as Array<{ unref?: () => void }>) s.unref?.()
      return outcome
    })
  }

  /** SIGKILL, as a crash; resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.running) return
    this.child!.kill('SIGKILL')
    const keepAlive = setInterval(() => {}, 1000) // the child is unref'd
    await this.exited
    clearInterval(keepAlive)
  }

  /** SIGTERM (the server exits at once); resolves once the process is gone. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.child!.kill('SIGTERM')
    const keepAlive = setInterval(() => {}, 1000)
    await this.exited
    clearInterval(keepAlive)
  }

  /** Replace the rules (atomically: the server never reads half a file). */
  answer(rules: Rule[]): void {
    const tmp = join(this.dir, `rules.json.${process.pid}.tmp`)
    writeFileSync(tmp, JSON.stringify(rules))
    renameSync(tmp, join(this.dir, 'rules.json'))
  }

  /** Every request received so far, in arrival order, across every start of the server. */
  received(): ReceivedRequest[] {
    const file = join(this.dir, 'requests.jsonl')
    if (!existsSync(file)) return []
    const out: ReceivedRequest[] = []
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue
      try {
        out.push(JSON.parse(line) as ReceivedRequest)
      } catch {
        // a line cut by a kill in the middle of its write (not seen in practice: one write() each)
      }
    }
    return out
  }

  /** The POSTs that carried an Idempotency-Key: the messages delivered to the downstream. */
  deliveries(): ReceivedRequest[] {
    return this.received().filter((r) => r.method === 'POST' && r.key !== null)
  }

  /** Kill the server and remove its directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
    this.release()
  }

  /** The watchdog and the exit hook let go (everything is already cleaned up, or never started). */
  private release(): void {
    this.watchdog.forget('dir', this.dir)
    this.watchdog.close()
    unregister(this)
  }

  /** @internal synchronous cleanup, for the exit hook. */
  killNow(): void {
    if (this.destroyed) return
    this.destroyed = true
    if (this.running) this.child!.kill('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
    unregister(this)
  }
}
