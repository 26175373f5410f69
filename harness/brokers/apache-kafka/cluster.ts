/**
 * The cluster: KRaft nodes (combined broker+controller) on loopback, one or three with a static
 * quorum, in a temporary directory of their own; the topics, coordinator look-ups and Kafka tools
 * that tests, chaos and bench ask of it; and its stop. A watchdog process (watchdog.mjs) kills
 * its JVMs and removes its directory if this process dies abruptly (SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel, type Admin, type KafkaConfig } from 'kafkajs'
import { makeSelfSignedCert } from './certificates.ts'
import { resolveClasspath } from './classpath.ts'
import { KafkaLauncherError } from './errors.ts'
import { installHooks, liveClusters } from './exit-hooks.ts'
import { TOOL_JVM, checkJava, javaBin, run, type ToolResult } from './jvm.ts'
import { Node, START_TIMEOUT_MS, type KafkaNode } from './node.ts'
import { DEFAULT_KAFKA_VERSION, type KafkaOptions } from './options.ts'
import { freePort, type Ports } from './ports.ts'
import { describeIds, quietClient } from './probe.ts'
import { serverProperties } from './properties.ts'

const WATCHDOG = fileURLToPath(new URL('watchdog.mjs', import.meta.url))
const SASL_USER = 'amo'

/** Java's String.hashCode, then Kafka's Utils.abs. */
function javaHashAbs(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h === -2147483648 ? 0 : Math.abs(h)
}

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
      liveClusters.add(kafka)
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

  private async format(n: Node, clusterId: string, password: string, cert?: { keystore: string; password: string }): Promise<void> {
    mkdirSync(join(n.dir, 'data'), { recursive: true })
    const file = join(n.dir, 'server.properties')
    writeFileSync(file, `${serverProperties(n, this.all, this.opts.brokerConfig, cert)}\n`)
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
    liveClusters.delete(this)
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
    liveClusters.delete(this)
  }
}
