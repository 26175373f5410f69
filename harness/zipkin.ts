/**
 * A real Zipkin server for the tracing test: io.zipkin:zipkin-server (the `exec` jar), resolved
 * by mvn into the local Maven cache (nothing lands in the repository), started with `java -jar`
 * on a free loopback port with in-memory storage, and killed when stopped or when the test
 * process dies (the Kafka launcher's watchdog). When Java, Maven or the jar cannot be had, start()
 * throws a ZipkinError that says what is missing: a test that needs Zipkin fails, never skips.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stripVTControlCharacters } from 'node:util'
import { freePort } from './brokers/apache-kafka/ports.ts'
import { checkJava, javaBin } from './brokers/apache-kafka/jvm.ts'

export const ZIPKIN_VERSION = '3.5.1'
const ARTIFACT = `io.zipkin:zipkin-server:${ZIPKIN_VERSION}:jar:exec`
/** The plugin version the Kafka launcher's pom.xml pins. */
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1'
const WATCHDOG = fileURLToPath(new URL('brokers/apache-kafka/watchdog.mjs', import.meta.url))

export class ZipkinError extends Error {
  override readonly name = 'ZipkinError'
}

/** The local Maven repository (settings may move it; mvn says where). */
function localRepository(): string {
  const r = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', 'help:evaluate', '-Dexpression=settings.localRepository', '-DforceStdout'], {
    cwd: tmpdir(),
    encoding: 'utf8',
    timeout: 300_000,
  })
  // mvn may colour even -q output: strip the escapes, keep the last line.
  const path = r.status === 0 ? (stripVTControlCharacters(r.stdout).trim().split('\n').at(-1) ?? '').trim() : ''
  return path && existsSync(path) ? path : join(homedir(), '.m2', 'repository')
}

/** The exec jar in the local Maven cache, resolved by mvn the first time. */
export function resolveZipkinJar(): string {
  const rel = join('io', 'zipkin', 'zipkin-server', ZIPKIN_VERSION, `zipkin-server-${ZIPKIN_VERSION}-exec.jar`)
  const defaultJar = join(homedir(), '.m2', 'repository', rel)
  if (existsSync(defaultJar)) return defaultJar
  // Run outside any project directory: no pom.xml of ours is read.
  const r = spawnSync('mvn', ['-q', '-B', `${DEPENDENCY_PLUGIN}:get`, `-Dartifact=${ARTIFACT}`, '-Dtransitive=false'], {
    cwd: tmpdir(),
    encoding: 'utf8',
    timeout: 600_000,
  })
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new ZipkinError(`Zipkin (${ARTIFACT}) is resolved with Maven, and \`mvn\` is not on PATH. Install it, e.g. \`sudo apt-get install -y maven\`.`)
  }
  const jar = existsSync(defaultJar) ? defaultJar : join(localRepository(), rel)
  if (r.status !== 0 || !existsSync(jar)) {
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n')
    throw new ZipkinError(
      `mvn could not resolve ${ARTIFACT} (${r.error?.message ?? `exit ${r.status}`}); Maven Central must be reachable, ` +
        `or the jar already in the local Maven repository. mvn said:\n${out}`,
    )
  }
  return jar
}

export interface ZipkinSpan {
  traceId: string
  id: string
  parentId?: string
  name: string
  kind?: string
  timestamp?: number
  duration?: number
  localEndpoint?: { serviceName?: string }
  annotations?: Array<{ timestamp: number; value: string }>
  tags?: Record<string, string>
}

export class Zipkin {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly watchdog: ChildProcess,
    private readonly lines: string[],
  ) {}

  /** Where the service's Zipkin exporter posts spans (OTEL_EXPORTER_ZIPKIN_ENDPOINT). */
  get spansUrl(): string {
    return `http://127.0.0.1:${this.port}/api/v2/spans`
  }

  static async start(timeoutMs = 120_000): Promise<Zipkin> {
    try {
      checkJava()
    } catch (err) {
      throw new ZipkinError(`Zipkin needs Java: ${(err as Error).message}`)
    }
    const jar = resolveZipkinJar()
    const port = await freePort()
    const lines: string[] = []
    const child = spawn(
      javaBin('java'),
      ['-Xms64m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:+ExitOnOutOfMemoryError', '-jar', jar,
        // Loopback only: the port entry is given whole (an ip alone would replace it with a random port).
        `--armeria.ports[0].port=${port}`, '--armeria.ports[0].ip=127.0.0.1', '--armeria.ports[0].protocols[0]=http'],
      { env: { ...process.env, QUERY_PORT: String(port), STORAGE_TYPE: 'mem', COLLECTOR_SCRIBE_ENABLED: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const keep = (c: Buffer) => {
      lines.push(...c.toString('utf8').split('\n').filter(Boolean))
      if (lines.length > 200) lines.splice(0, lines.length - 200)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    // Killed with the test process, even by SIGKILL: the watchdog kills what it was told of once its stdin closes.
    const watchdog = spawn(process.execPath, [WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'] })
    watchdog.unref()
    ;(watchdog.stdin as unknown as { unref?: () => void }).unref?.()
    watchdog.stdin!.on('error', () => {})
    watchdog.stdin!.write(`+pid ${child.pid}\n`)
    const zipkin = new Zipkin(port, child, watchdog, lines)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (child.exitCode !== null) throw new ZipkinError(`Zipkin exited (${child.exitCode}) while starting:\n${lines.slice(-20).join('\n')}`)
      const ok = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      )
      if (ok) return zipkin
      if (Date.now() > deadline) {
        zipkin.stop()
        throw new ZipkinError(`Zipkin did not answer /health within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`)
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  /** The spans of one trace (GET /api/v2/trace/{id}); [] while Zipkin has none of it. */
  async trace(traceId: string): Promise<ZipkinSpan[]> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v2/trace/${traceId}`, { signal: AbortSignal.timeout(5000) })
    if (res.status === 404) return []
    if (!res.ok) throw new Error(`Zipkin /api/v2/trace/${traceId}: HTTP ${res.status}`)
    return (await res.json()) as ZipkinSpan[]
  }

  /** The latest traces with a span of `serviceName` (GET /api/v2/traces). */
  async traces(serviceName: string, limit: number): Promise<ZipkinSpan[][]> {
    const q = new URLSearchParams({ serviceName, limit: String(limit), lookback: String(3_600_000) })
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v2/traces?${q}`, { signal: AbortSignal.timeout(5000) })
    if (!res.ok) throw new Error(`Zipkin /api/v2/traces: HTTP ${res.status}`)
    return (await res.json()) as ZipkinSpan[][]
  }

  tail(n = 20): string {
    return this.lines.slice(-n).join('\n')
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    this.watchdog.stdin?.end()
  }
}
