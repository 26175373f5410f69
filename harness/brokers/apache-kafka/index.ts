/**
 * Real Apache Kafka for tests, chaos runs, benchmarks and `npm run kafka`: KRaft nodes (combined
 * broker+controller) on loopback, one or three with a static quorum, started from the jars of
 * org.apache.kafka:kafka_2.13:<version> that mvn resolves into the local Maven cache (pom.xml
 * beside this file; nothing is downloaded any other way, nothing lands in the repository).
 *
 * Configured as a real cluster: topic auto-creation off, internal topics replicated as far as the
 * node count allows, min.insync.replicas 2 of 3. Every cluster lives in its own temporary
 * directory. stop() kills every JVM and removes the directory; so does the exit of this process
 * (exit hook, SIGINT/SIGTERM when nobody else handles them) and, when this process dies
 * abruptly (SIGKILL), the cluster's watchdog process (watchdog.mjs), which notices its stdin
 * pipe closing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, type WriteStream } from 'node:fs'
import net from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel, type Admin, type KafkaConfig } from 'kafkajs'

/** Newest Kafka 4.x that passes the integration tier (see docs/testing.md). */
export const DEFAULT_KAFKA_VERSION = '4.4.0'

export interface KafkaOptions {
  /** Kafka version (default: env KAFKA_VERSION, else DEFAULT_KAFKA_VERSION). */
  version?: string
  nodes?: 1 | 3
  /** Add a SASL_PLAINTEXT listener (SCRAM-SHA-512) on every node, with a user created at start. */
  sasl?: boolean
  /** Add an SSL listener on every node (self-signed certificate made with keytool). */
  ssl?: boolean
  /** Every line the JVMs print (they also go to <dir>/node-<id>/server.log). */
  log?: (line: string) => void
  /** Extra or overriding server.properties entries, e.g. { 'group.initial.rebalance.delay.ms': '0' }. */
  brokerConfig?: Record<string, string>
}

export type LauncherErrorCode =
  | 'JAVA_MISSING'
  | 'MVN_MISSING'
  | 'RESOLVE_FAILED'
  | 'KEYTOOL_FAILED'
  | 'FORMAT_FAILED'
  | 'START_FAILED'

/** The launcher could not start a cluster; the message says what is missing and how to get it. */
export class KafkaLauncherError extends Error {
  constructor(
    readonly code: LauncherErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'KafkaLauncherError'
  }
}

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

const HERE = fileURLToPath(new URL('.', import.meta.url))
const POM = join(HERE, 'pom.xml')
const WATCHDOG = join(HERE, 'watchdog.mjs')
const SASL_USER = 'amo'
const START_TIMEOUT_MS = 90_000

/** Flags of every broker JVM: small heap, few GC threads, quick start. */
const BROKER_JVM = ['-Xms64m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true']
/** Flags of short-lived tool JVMs (StorageTool, keytool's cousins, kafka-*.sh classes). */
const TOOL_JVM = ['-Xms32m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto']
const SLF4J = [
  '-Dorg.slf4j.simpleLogger.defaultLogLevel=info',
  '-Dorg.slf4j.simpleLogger.showDateTime=true',
  '-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS',
  // The full config dumps (hundreds of lines per node and client) say nothing a test needs.
  '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn',
  '-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaConfig=warn',
  '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.utils.AppInfoParser=warn',
]

// ---------------------------------------------------------------------------------------------
// prerequisites

function javaBin(name: 'java' | 'keytool'): string {
  const home = process.env.JAVA_HOME
  if (home && existsSync(join(home, 'bin', name))) return join(home, 'bin', name)
  return name
}

let javaChecked: string | undefined
function checkJava(): void {
  if (javaChecked) return
  const r = spawnSync(javaBin('java'), ['-version'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) {
    throw new KafkaLauncherError(
      'JAVA_MISSING',
      `Apache Kafka needs Java 17 or newer, and \`${javaBin('java')}\` could not be run (${r.error?.message ?? `exit ${r.status}`}). ` +
        'Install a JDK, e.g. `sudo apt-get install -y openjdk-17-jdk-headless`, or set JAVA_HOME to one.',
    )
  }
  const m = /version "(\d+)/.exec(r.stderr)
  const major = m ? Number(m[1]) : 0
  if (major < 17) {
    throw new KafkaLauncherError(
      'JAVA_MISSING',
      `Apache Kafka needs Java 17 or newer; \`${javaBin('java')} -version\` says: ${r.stderr.split('\n')[0]}. ` +
        'Install one (e.g. `sudo apt-get install -y openjdk-17-jdk-headless`) and put it first on PATH or set JAVA_HOME.',
    )
  }
  javaChecked = r.stderr.split('\n')[0]
}

/** Where resolved classpaths are cached: one file per Kafka version and pom content. */
function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : tmpdir())
  return join(base, 'amo-consumer', 'kafka-classpath')
}

/**
 * The classpath of Kafka `version` plus its SLF4J binding: resolved by mvn into the local Maven
 * cache the first time, then read from a cache file (checked: every jar must still exist).
 */
export function resolveClasspath(version: string): string {
  if (!/^\d+\.\d+\.\d+([.-][\w.-]+)?$/.test(version)) {
    throw new KafkaLauncherError('RESOLVE_FAILED', `KAFKA_VERSION=${JSON.stringify(version)} is not a Kafka version such as 4.4.0 or 3.9.2`)
  }
  const pomHash = createHash('sha256').update(readFileSync(POM)).digest('hex').slice(0, 12)
  const dir = cacheDir()
  const file = join(dir, `kafka_2.13-${version}-${pomHash}.classpath`)
  if (existsSync(file)) {
    const cp = readFileSync(file, 'utf8').trim()
    if (cp && cp.split(':').every((jar) => existsSync(jar))) return cp
  }
  mkdirSync(dir, { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  const r = spawnSync(
    'mvn',
    ['-q', '-B', '-f', POM, 'dependency:build-classpath', `-Dkafka.version=${version}`, `-Dmdep.outputFile=${tmp}`, '-Dmdep.pathSeparator=:'],
    { encoding: 'utf8', timeout: 600_000 },
  )
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new KafkaLauncherError(
      'MVN_MISSING',
      'Apache Kafka is resolved with Maven, and `mvn` is not on PATH. Install it, e.g. `sudo apt-get install -y maven` ' +
        '(it needs access to Maven Central, or the artifacts already in ~/.m2).',
    )
  }
  if (r.status !== 0 || !existsSync(tmp)) {
    rmSync(tmp, { force: true })
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n')
    throw new KafkaLauncherError(
      'RESOLVE_FAILED',
      `mvn could not resolve org.apache.kafka:kafka_2.13:${version} (${r.error?.message ?? `exit ${r.status}`}). ` +
        `Check that the version exists on Maven Central and that Maven Central is reachable (proxy settings in ~/.m2/settings.xml). mvn said:\n${out}`,
    )
  }
  renameSync(tmp, file)
  return readFileSync(file, 'utf8').trim()
}

// ---------------------------------------------------------------------------------------------
// helpers

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface ToolResult {
  code: number
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      resolve({ code: -1, stdout, stderr: `${stderr}${err.message}` })
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr })
    })
  })
}

/**
 * A self-signed certificate made with keytool: a PKCS12 keystore (for a Kafka SSL listener) and
 * its certificate as PEM (what a client must trust). Valid for 127.0.0.1 and localhost.
 */
export async function makeSelfSignedCert(dir: string, cn: string): Promise<{ keystore: string; password: string; pemFile: string }> {
  mkdirSync(dir, { recursive: true })
  const keystore = join(dir, `${cn}.p12`)
  const pemFile = join(dir, `${cn}.pem`)
  const password = randomBytes(12).toString('hex')
  const keytool = javaBin('keytool')
  const j = ['-J-XX:TieredStopAtLevel=1', '-J-XX:+UseSerialGC']
  const gen = await run(keytool, [
    ...j, '-genkeypair', '-alias', cn, '-keyalg', 'RSA', '-keysize', '2048', '-validity', '30', '-dname', `CN=${cn}`,
    '-ext', 'SAN=ip:127.0.0.1,dns:localhost', '-keystore', keystore, '-storetype', 'PKCS12', '-storepass', password, '-keypass', password,
  ])
  const exp = gen.code === 0 ? await run(keytool, [...j, '-exportcert', '-rfc', '-alias', cn, '-keystore', keystore, '-storepass', password, '-file', pemFile]) : gen
  if (gen.code !== 0 || exp.code !== 0) {
    throw new KafkaLauncherError(
      'KEYTOOL_FAILED',
      `keytool could not make a self-signed certificate (it comes with the JDK: install openjdk-17-jdk-headless or set JAVA_HOME): ${exp.stderr || exp.stdout}`,
    )
  }
  return { keystore, password, pemFile }
}

/** Java's String.hashCode, then Kafka's Utils.abs. */
function javaHashAbs(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h === -2147483648 ? 0 : Math.abs(h)
}

// ---------------------------------------------------------------------------------------------
// cleanup of every live cluster when this process goes

const live = new Set<ApacheKafka>()
let hooksInstalled = false
function installHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.once('exit', () => {
    for (const k of live) k.killNow()
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      // Somebody else handles this signal (the CLI, a test runner): they stop the clusters, and
      // the exit hook and the watchdog back them up.
      if (process.listenerCount(sig) > 1) return
      for (const k of live) k.killNow()
      process.removeListener(sig, onSignal)
      process.kill(process.pid, sig)
    }
    process.on(sig, onSignal)
  }
}

// ---------------------------------------------------------------------------------------------
// nodes

interface Ports {
  plain: number
  controller: number
  sasl?: number
  ssl?: number
}

class Node implements KafkaNode {
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private logFile: WriteStream | undefined
  readonly recent: string[] = []

  constructor(
    private readonly cluster: ApacheKafka,
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

function quietClient(brokers: string[], extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'amo-kafka-launcher',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
    ...extra,
  })
}

async function describeIds(brokers: string[]): Promise<number[]> {
  const admin = quietClient(brokers).admin()
  try {
    await admin.connect()
    const { brokers: list } = await admin.describeCluster()
    return list.map((b) => b.nodeId).sort((a, b) => a - b)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

// ---------------------------------------------------------------------------------------------
// the cluster

export class ApacheKafka {
  readonly version: string
  readonly bootstrap: string[]
  readonly nodes: KafkaNode[]
  readonly sasl?: { bootstrap: string[]; mechanism: 'scram-sha-512'; username: string; password: string }
  readonly ssl?: { bootstrap: string[]; caFile: string }
  readonly classpath: string
  /** Temporary directory of this cluster (removed by stop()). */
  readonly dir: string
  /** Milliseconds from start() to every node answering (set by start). */
  startMs = 0

  private readonly all: Node[] = []
  private readonly watchdog: ChildProcess
  private stopped = false

  private constructor(
    readonly opts: KafkaOptions,
    version: string,
    classpath: string,
    dir: string,
    private readonly nodeCount: number,
    private readonly ports: Ports[],
    sasl: ApacheKafka['sasl'],
    ssl: ApacheKafka['ssl'],
  ) {
    this.version = version
    this.classpath = classpath
    this.dir = dir
    this.sasl = sasl
    this.ssl = ssl
    this.watchdog = spawn(process.execPath, [WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], detached: false })
    this.watchdog.unref()
    ;(this.watchdog.stdin as unknown as { unref?: () => void }).unref?.()
    this.watchdog.stdin!.on('error', () => {})
    this.watch(`+dir ${dir}`)
    for (let i = 0; i < nodeCount; i++) this.all.push(new Node(this, i + 1, ports[i]!, join(dir, `node-${i + 1}`)))
    this.nodes = this.all
    this.bootstrap = ports.map((p) => `127.0.0.1:${p.plain}`)
  }

  /** @internal a line for the watchdog. */
  watch(line: string): void {
    if (this.watchdog.stdin?.writable) this.watchdog.stdin.write(`${line}\n`)
  }

  static async start(opts: KafkaOptions = {}): Promise<ApacheKafka> {
    const t0 = Date.now()
    const version = opts.version ?? process.env.KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION
    const nodeCount = opts.nodes ?? 1
    if (nodeCount !== 1 && nodeCount !== 3) throw new KafkaLauncherError('START_FAILED', `nodes must be 1 or 3, not ${String(nodeCount)}`)
    checkJava()
    const classpath = resolveClasspath(version)
    installHooks()

    const dir = mkdtempSync(join(tmpdir(), `amo-kafka-${version}-`))
    const ports: Ports[] = []
    for (let i = 0; i < nodeCount; i++) {
      ports.push({
        plain: await freePort(),
        controller: await freePort(),
        ...(opts.sasl ? { sasl: await freePort() } : {}),
        ...(opts.ssl ? { ssl: await freePort() } : {}),
      })
    }
    const password = opts.sasl ? `pw-${randomBytes(9).toString('hex')}` : ''
    let cert: { keystore: string; password: string; pemFile: string } | undefined
    let kafka: ApacheKafka | undefined
    try {
      if (opts.ssl) cert = await makeSelfSignedCert(join(dir, 'tls'), 'amo-kafka-test')
      kafka = new ApacheKafka(
        opts,
        version,
        classpath,
        dir,
        nodeCount,
        ports,
        opts.sasl ? { bootstrap: ports.map((p) => `127.0.0.1:${p.sasl}`), mechanism: 'scram-sha-512', username: SASL_USER, password } : undefined,
        cert ? { bootstrap: ports.map((p) => `127.0.0.1:${p.ssl}`), caFile: cert.pemFile } : undefined,
      )
      live.add(kafka)
      // Like Kafka's Uuid.randomUuid: never starting with '-' (the tools would read it as an option).
      let clusterId = randomBytes(16).toString('base64url')
      while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url')
      const k = kafka
      await Promise.all(k.all.map((n) => k.format(n, clusterId, password, cert)))
      for (const n of k.all) n.spawnJvm()
      await Promise.all(k.all.map((n) => n.waitUp()))
      await k.waitAll()
      k.startMs = Date.now() - t0
      return k
    } catch (err) {
      if (kafka) await kafka.stop()
      else rmSync(dir, { recursive: true, force: true })
      throw err
    }
  }

  private properties(n: Node, cert?: { keystore: string; password: string }): string {
    const rf = Math.min(3, this.nodeCount)
    const p = n.ports
    const listeners = [`PLAINTEXT://127.0.0.1:${p.plain}`, `CONTROLLER://127.0.0.1:${p.controller}`]
    const advertised = [`PLAINTEXT://127.0.0.1:${p.plain}`]
    if (p.sasl) {
      listeners.push(`SASL_PLAINTEXT://127.0.0.1:${p.sasl}`)
      advertised.push(`SASL_PLAINTEXT://127.0.0.1:${p.sasl}`)
    }
    if (p.ssl) {
      listeners.push(`SSL://127.0.0.1:${p.ssl}`)
      advertised.push(`SSL://127.0.0.1:${p.ssl}`)
    }
    const props: Record<string, string> = {
      'process.roles': 'broker,controller',
      'node.id': String(n.id),
      'controller.quorum.voters': this.all.map((m) => `${m.id}@127.0.0.1:${m.ports.controller}`).join(','),
      listeners: listeners.join(','),
      'advertised.listeners': advertised.join(','),
      'inter.broker.listener.name': 'PLAINTEXT',
      'controller.listener.names': 'CONTROLLER',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL',
      'log.dirs': join(n.dir, 'data'),
      // As real clusters run: no topic appears because a client asked for it.
      'auto.create.topics.enable': 'false',
      'num.partitions': '1',
      'default.replication.factor': String(rf),
      'min.insync.replicas': String(Math.min(2, this.nodeCount)),
      'offsets.topic.replication.factor': String(rf),
      'transaction.state.log.replication.factor': String(rf),
      'transaction.state.log.min.isr': String(Math.min(2, this.nodeCount)),
      'share.coordinator.state.topic.replication.factor': String(rf),
      'share.coordinator.state.topic.min.isr': String(Math.min(2, this.nodeCount)),
      'num.network.threads': '2',
      'num.io.threads': '4',
      'num.recovery.threads.per.data.dir': '1',
      'log.segment.bytes': String(64 * 1024 * 1024),
      'log.retention.hours': '24',
    }
    if (p.sasl) {
      props['sasl.enabled.mechanisms'] = 'SCRAM-SHA-512'
      props['listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config'] = 'org.apache.kafka.common.security.scram.ScramLoginModule required;'
    }
    if (p.ssl && cert) {
      props['listener.name.ssl.ssl.keystore.type'] = 'PKCS12'
      props['listener.name.ssl.ssl.keystore.location'] = cert.keystore
      props['listener.name.ssl.ssl.keystore.password'] = cert.password
      props['listener.name.ssl.ssl.key.password'] = cert.password
      props['listener.name.ssl.ssl.client.auth'] = 'none'
    }
    Object.assign(props, this.opts.brokerConfig ?? {})
    return Object.entries(props)
      .map(([k, v]) => `${k}=${v.replace(/\\/g, '\\\\')}`)
      .join('\n')
  }

  private async format(n: Node, clusterId: string, password: string, cert?: { keystore: string; password: string }): Promise<void> {
    mkdirSync(join(n.dir, 'data'), { recursive: true })
    const file = join(n.dir, 'server.properties')
    writeFileSync(file, `${this.properties(n, cert)}\n`)
    const args = ['format', '--cluster-id', clusterId, '--config', file]
    if (password) args.push('--add-scram', `SCRAM-SHA-512=[name=${SASL_USER},password=${password}]`)
    const r = await this.runTool('kafka.tools.StorageTool', args)
    if (r.code !== 0) {
      const out = `${r.stdout}\n${r.stderr}`.replaceAll(password || '\u0000', '[redacted]').trim()
      throw new KafkaLauncherError('FORMAT_FAILED', `kafka.tools.StorageTool format failed for node ${n.id} (Kafka ${this.version}, exit ${r.code}):\n${out}`)
    }
  }

  /** Every node listed by the cluster. */
  private async waitAll(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const want = this.all.map((n) => n.id)
    const deadline = Date.now() + timeoutMs
    let ids: number[] = []
    for (;;) {
      ids = await describeIds(this.bootstrap).catch(() => [])
      if (want.every((id) => ids.includes(id))) return
      if (Date.now() > deadline) {
        throw new KafkaLauncherError('START_FAILED', `the cluster lists nodes [${ids.join(',')}] after ${timeoutMs} ms, expected [${want.join(',')}]`)
      }
      await sleep(250)
    }
  }

  /** Run one of Kafka's own tools (a main class on the Kafka classpath). */
  runTool(mainClass: string, args: string[]): Promise<ToolResult> {
    return run(javaBin('java'), [...TOOL_JVM, '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-cp', this.classpath, mainClass, ...args])
  }

  /** A kafkajs client config for this cluster's PLAINTEXT listeners. */
  clientConfig(extra: Partial<KafkaConfig> = {}): KafkaConfig {
    return { clientId: 'amo-kafka-harness', brokers: this.bootstrap, logLevel: logLevel.NOTHING, retry: { retries: 8 }, ...extra }
  }

  private async withAdmin<T>(f: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = new Kafka(this.clientConfig()).admin()
    await admin.connect()
    try {
      return await f(admin)
    } finally {
      await admin.disconnect().catch(() => {})
    }
  }

  /** Create `topic` and wait for its leaders. Replication defaults to min(3, nodes). */
  async createTopic(topic: string, partitions: number, replicationFactor = Math.min(3, this.nodeCount)): Promise<void> {
    await this.withAdmin(async (admin) => {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor }], waitForLeaders: false })
    })
    // Every running node must know the topic and its leaders before clients are pointed at it
    // (metadata reaches the brokers asynchronously; 3.9 answers UNKNOWN_TOPIC_OR_PARTITION meanwhile).
    const deadline = Date.now() + 30_000
    for (const n of this.all.filter((x) => x.running)) {
      for (;;) {
        const admin = quietClient([`127.0.0.1:${n.port}`]).admin()
        const ok = await admin
          .connect()
          .then(() => admin.fetchTopicMetadata({ topics: [topic] }))
          .then((m) => m.topics[0]?.partitions.length === partitions && m.topics[0].partitions.every((x) => x.leader >= 0))
          .catch(() => false)
          .finally(() => admin.disconnect().catch(() => {}))
        if (ok) break
        if (Date.now() > deadline) throw new Error(`topic ${topic} has no leader on node ${n.id} 30 s after its creation`)
        await sleep(100)
      }
    }
    // ... and every leader must serve it: metadata names a leader before the leader has loaded
    // the partition, and a Produce spanning such a partition fails for it alone (kafkajs then
    // resends the whole request: the other partitions get their messages twice). ListOffsets is
    // answered by the leader only once the partition is online.
    for (;;) {
      const admin = quietClient(this.bootstrap).admin()
      const ok = await admin
        .connect()
        .then(() => admin.fetchTopicOffsets(topic))
        .then((o) => o.length === partitions)
        .catch(() => false)
        .finally(() => admin.disconnect().catch(() => {}))
      if (ok) return
      if (Date.now() > deadline) throw new Error(`topic ${topic}: its leaders do not serve it 30 s after its creation`)
      await sleep(100)
    }
  }

  /**
   * Node id of `groupId`'s coordinator: the leader of the __consumer_offsets partition
   * abs(groupId.hashCode()) % partitions (Kafka's own rule; created on first use).
   */
  async coordinatorOf(groupId: string): Promise<number> {
    return this.withAdmin(async (admin) => {
      for (let attempt = 0; ; attempt++) {
        // describeGroups sends FindCoordinator, which creates __consumer_offsets if needed.
        await admin.describeGroups([groupId]).catch(() => {})
        const meta = await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] }).catch(() => undefined)
        const parts = meta?.topics[0]?.partitions ?? []
        if (parts.length > 0) {
          const p = parts.find((x) => x.partitionId === javaHashAbs(groupId) % parts.length)
          if (p && p.leader >= 0) return p.leader
        }
        if (attempt > 40) throw new Error(`no coordinator found for group ${groupId}`)
        await sleep(250)
      }
    })
  }

  /** Every JVM down, the temporary directory removed. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    // A temporary cluster keeps nothing worth a controlled shutdown; SIGKILL is quick and sure.
    await Promise.all(this.all.map((n) => n.kill()))
    for (const n of this.all) n.closeLog()
    rmSync(this.dir, { recursive: true, force: true })
    this.watch(`-dir ${this.dir}`)
    this.watchdog.stdin?.end()
    live.delete(this)
  }

  /** @internal synchronous kill + cleanup, for the exit hook. */
  killNow(): void {
    if (this.stopped) return
    this.stopped = true
    for (const n of this.all) n.killNow()
    try {
      rmSync(this.dir, { recursive: true, force: true })
    } catch {
      // a JVM may still be writing; the watchdog removes it once the JVMs are gone
    }
    live.delete(this)
  }
}
