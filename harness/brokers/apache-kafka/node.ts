/**
 * One Kafka node: its JVM process (spawned, stopped, killed, paused, resumed), its log lines, and
 * the wait until it answers. Every pid is told to the cluster's watchdog.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { KafkaLauncherError } from './errors.ts'
import { BROKER_JVM, SLF4J, javaBin } from './jvm.ts'
import type { KafkaOptions } from './options.ts'
import type { Ports } from './ports.ts'
import { describeIds } from './probe.ts'

/** One node as callers (tests, chaos) see it. */
export interface KafkaNode {
  id: number
  /** PLAINTEXT port. */
  port: number
  readonly pid: number | undefined
  /** SIGTERM, wait for the exit (controlled shutdown). */
  stop(): Promise<void>
  /** SIGKILL, wait for the exit. */
  kill(): Promise<void>
  /** Start again on the same directory and ports; resolves once it answers. */
  start(): Promise<void>
  /** SIGSTOP. */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** Resident set size of the JVM in bytes (from /proc), undefined when not running. */
  rss(): number | undefined
}

export const START_TIMEOUT_MS = 90_000

/** What a node needs of its cluster (ApacheKafka). */
export interface NodeHost {
  readonly classpath: string
  readonly version: string
  readonly opts: KafkaOptions
  /** A line for the cluster's watchdog ("+pid N", "-pid N"). */
  watch(line: string): void
}

export class Node implements KafkaNode {
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private logFile: WriteStream | undefined
  readonly recent: string[] = []

  constructor(
    private readonly cluster: NodeHost,
    readonly id: number,
    readonly ports: Ports,
    readonly dir: string,
  ) {}

  get port(): number {
    return this.ports.plain
  }
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined
  }
  get running(): boolean {
    return this.pid !== undefined
  }

  /** Spawn the JVM (does not wait for it to answer). */
  spawnJvm(): void {
    if (this.running) throw new KafkaLauncherError('START_FAILED', `node ${this.id} is already running`)
    this.logFile ??= createWriteStream(join(this.dir, 'server.log'), { flags: 'a' })
    const child = spawn(
      javaBin('java'),
      [...BROKER_JVM, ...SLF4J, `-Dkafka.logs.dir=${join(this.dir, 'logs')}`, '-cp', this.cluster.classpath, 'kafka.Kafka', join(this.dir, 'server.properties')],
      { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    this.child = child
    if (child.pid) this.cluster.watch(`+pid ${child.pid}`)
    const pid = child.pid
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (pid) this.cluster.watch(`-pid ${pid}`)
        resolve()
      })
      child.once('error', (err) => {
        this.line(`[launcher] could not start java: ${err.message}`)
        resolve()
      })
    })
    const onData = (prefix: string) => {
      let buf = ''
      return (chunk: Buffer) => {
        buf += chunk.toString('utf8')
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          this.line(`${prefix}${buf.slice(0, nl)}`)
          buf = buf.slice(nl + 1)
        }
      }
    }
    child.stdout!.on('data', onData(`[node ${this.id}] `))
    child.stderr!.on('data', onData(`[node ${this.id}] `))
    child.unref()
    for (const s of [child.stdout, child.stderr] as unknown as Array<{ unref?: () => void }>) s.unref?.()
  }

  private line(l: string): void {
    this.recent.push(l)
    if (this.recent.length > 60) this.recent.shift()
    this.logFile?.write(`${l}\n`)
    this.cluster.opts.log?.(l)
  }

  /** Resolves once this node answers on its own port and the cluster lists it. */
  async waitUp(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let last = ''
    for (;;) {
      if (!this.running) {
        throw new KafkaLauncherError(
          'START_FAILED',
          `Kafka node ${this.id} (${this.cluster.version}) exited during start; its last lines (${join(this.dir, 'server.log')}):\n${this.recent.slice(-25).join('\n')}`,
        )
      }
      try {
        const ids = await describeIds([`127.0.0.1:${this.port}`])
        if (ids.includes(this.id)) return
        last = `cluster lists nodes [${ids.join(',')}]`
      } catch (err) {
        last = (err as Error).message
      }
      if (Date.now() > deadline) {
        throw new KafkaLauncherError(
          'START_FAILED',
          `Kafka node ${this.id} did not answer within ${timeoutMs} ms (${last}); its last lines:\n${this.recent.slice(-25).join('\n')}`,
        )
      }
      await sleep(250)
    }
  }

  async start(): Promise<void> {
    this.spawnJvm()
    await this.waitUp()
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.child!.kill('SIGCONT')
    this.child!.kill('SIGTERM')
    // A ref'd timer: the child is unref'd, and the wait must keep this process alive.
    const timer = setTimeout(() => {
      this.line(`[launcher] node ${this.id} still running 60 s after SIGTERM: SIGKILL`)
      this.child?.kill('SIGKILL')
    }, 60_000)
    await this.exited
    clearTimeout(timer)
  }

  async kill(): Promise<void> {
    if (!this.running) return
    this.child!.kill('SIGKILL')
    const keepAlive = setInterval(() => {}, 1000) // the child is unref'd
    await this.exited
    clearInterval(keepAlive)
  }

  /** Synchronous SIGKILL (exit hook). */
  killNow(): void {
    if (this.running) this.child!.kill('SIGKILL')
  }

  pause(): void {
    if (this.running) this.child!.kill('SIGSTOP')
  }

  resume(): void {
    if (this.running) this.child!.kill('SIGCONT')
  }

  rss(): number | undefined {
    const pid = this.pid
    if (!pid) return undefined
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      return m ? Number(m[1]) * 1024 : undefined
    } catch {
      return undefined
    }
  }

  closeLog(): void {
    this.logFile?.end()
    this.logFile = undefined
  }
}
