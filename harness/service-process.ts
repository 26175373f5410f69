/**
 * The service as a real child process (node dist/server.js): its JSON log lines, its HTTP
 * endpoints, signals and exit code. Build first (`npm run build`; `npm test` does).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { after } from 'node:test'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../', import.meta.url))
export const SERVER = fileURLToPath(new URL('../dist/server.js', import.meta.url))

/**
 * The Node flags between `node` and `dist/server.js` in a start command (`node <flags>
 * dist/server.js`), or undefined when the command is not of that form.
 */
export function nodeFlagsOf(command: string): string[] | undefined {
  const m = /^node((?:\s+-\S+)*)\s+\S*dist\/server\.js$/.exec(command.trim())
  return m ? m[1]!.split(/\s+/).filter(Boolean) : undefined
}

/**
 * The Node flags the service starts with, everywhere: package.json's "start" script is the one
 * place they are written (`node <flags> dist/server.js`); the image's CMD carries the same flags
 * (test/dockerfile.test.ts compares them), the chart and compose run that CMD, and every service
 * process the tests, the bench, the demo and chaos start gets them here.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = (() => {
  const start = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts?: { start?: string } }).scripts?.start ?? ''
  const flags = nodeFlagsOf(start)
  if (!flags) throw new Error(`package.json "start" is not of the form "node <flags> dist/server.js": ${start}`)
  return flags
})()

export interface LogLine {
  level: number
  msg: string
  [k: string]: unknown
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export class ServiceProcess {
  readonly logs: LogLine[] = []
  /** Lines that were not JSON (stderr, warnings). */
  readonly raw: string[] = []
  port = 0
  readonly exited: Promise<Exit>
  private waiters: Array<() => void> = []

  constructor(readonly child: ChildProcess) {
    let buf = ''
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8')
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        this.addLine(line)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (c: Buffer) => this.raw.push(...c.toString('utf8').split('\n').filter(Boolean)))
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    void this.exited.then(() => this.notify())
  }

  private addLine(line: string): void {
    if (!line.trim()) return
    try {
      const parsed = JSON.parse(line) as LogLine
      this.logs.push(parsed)
      const m = /^Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(parsed.msg ?? '')
      if (m) this.port = Number(m[1])
    } catch {
      this.raw.push(line)
    }
    this.notify()
  }

  private notify(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /** Resolves with the first log line matching `pred`; rejects after `timeoutMs` or on exit. */
  async waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 20_000, what = 'log line'): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.logs.find(pred)
      if (found) return found
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`service exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}\n${this.tail()}`)
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250))
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  tail(n = 15): string {
    return [...this.logs.slice(-n).map((l) => JSON.stringify(l).slice(0, 400)), ...this.raw.slice(-5)].join('\n')
  }

  async get(path: string): Promise<{ status: number; body: string }> {
    if (!this.port) await this.waitForLog((l) => /^Server listening/.test(l.msg), 10_000, 'listening')
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`, { signal: AbortSignal.timeout(5000) })
    return { status: res.status, body: await res.text() }
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const { status } = await this.get('/readyz').catch(() => ({ status: 0 }))
      if (status === 200) return
      if (this.child.exitCode !== null) throw new Error(`service exited before ready\n${this.tail()}`)
      if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms\n${this.tail()}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** `consumed` log lines (the `log` handler): topic, partition, offset, value. */
  consumed(): Array<{ topic: string; partition: number; offset: string; value: unknown }> {
    return this.logs.filter((l) => l.msg === 'consumed') as never
  }

  /** Value of one metric sample from /metrics (sum over all label sets matching `labels`). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const { body } = await this.get('/metrics')
    return sumMetric(body, name, labels)
  }

  signal(sig: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(sig)
  }

  /** Send `sig` and wait for the exit; returns the exit and how long it took. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<Exit & { ms: number }> {
    const t0 = Date.now()
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    const exit = await this.exited
    clearTimeout(timer)
    return { ...exit, ms: Date.now() - t0 }
  }
}

export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name) continue
    const set = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => set[k] === v)) total += Number(m[3])
  }
  return total
}

/** Every service child this test file started: none may outlive the file (a leftover keeps its
 *  stdio pipes open and the test process alive). */
const children = new Set<ChildProcess>()
function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  children.clear()
}
// Under node --test (which sets NODE_TEST_CONTEXT) a root hook kills leftovers once the file's
// tests are done; scripts (chaos, bench) that import this module rely on the exit handler.
if (process.env.NODE_TEST_CONTEXT) after(killAll)
process.once('exit', killAll)

export interface StartOptions {
  /** More Node arguments, after SERVICE_NODE_FLAGS (e.g. --cpu-prof, --import). */
  args?: string[]
  /** Instead of SERVICE_NODE_FLAGS (a bench experiment; never what the image runs). */
  nodeFlags?: readonly string[]
  /**
   * A cgroup (v1 or v2) directory to start the process in: it joins the group (its pid written to
   * `cgroup.procs` by a shell that then execs Node, so the pid stays the same) before Node starts,
   * as in a container, so Node sizes its heap for that group's memory limit.
   */
  cgroup?: string
}

/** Start `node <SERVICE_NODE_FLAGS> dist/server.js` with `env` (plus PORT=0, HOST=127.0.0.1 unless given). */
export function startService(env: Record<string, string>, opts: StartOptions = {}): ServiceProcess {
  if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run npm run build first`)
  const argv = [process.execPath, ...(opts.nodeFlags ?? SERVICE_NODE_FLAGS), ...(opts.args ?? []), SERVER]
  const [file, ...args] = opts.cgroup === undefined ? argv : ['/bin/sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', opts.cgroup, ...argv]
  const child = spawn(file!, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', KAFKA_CLIENT_ID: 'amo-test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return new ServiceProcess(child)
}
