/**
 * `npm run demo`: a local Kafka-protocol broker (librdkafka's mock cluster) with a `weather`
 * topic, the weather producer, and the service against them, for a person at a terminal.
 *
 * The service's stdout stays pino JSON (as in production); this script reads it line by line
 * and prints one short line per event instead (`12:01:03 consumed weather[2]@17 Oslo 3.2°C`).
 * On a terminal the last two lines are a status footer (counts read from /metrics and the
 * broker, the three URLs), redrawn every two seconds; with stdout not a terminal the status is
 * printed as a plain line every ten seconds. Colour follows the terminal (NO_COLOR turns it off).
 * Ctrl-C stops the producer, sends the service ONE SIGTERM, shows its shutdown lines and ends
 * with a summary: produced, consumed, committed, the final commit line and the exit code.
 *
 * Environment: PORT (default 8080; 0 picks a free one), DEMO_PARTITIONS (default 3),
 * PRODUCER_INTERVAL_MS (default 1000), DEMO_RAW=1 (print the service's JSON lines untouched),
 * and any service variable (COMMIT_MODE, COMMIT_WINDOW, HANDLER, ...).
 * Why not pino-pretty: it would add a dependency (and its own dozen) to print pino's generic
 * `[time] INFO: msg` plus a dump of every field; the demo wants weather-shaped lines, a footer
 * and a summary, which a formatter of a few dozen lines here gives without any.
 *
 * Exit code: the service's (0 after a clean shutdown). `npm run demo` itself exits 130 after
 * Ctrl-C: npm reports that it was interrupted, whatever the script's code.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel, type Admin } from 'kafkajs'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const partitions = Number(process.env.DEMO_PARTITIONS ?? 3)
const groupId = process.env.KAFKA_GROUP_ID ?? 'amo-demo'
const topic = 'weather'
const raw = process.env.DEMO_RAW === '1'
const out = process.stdout
/** A terminal: the footer is redrawn in place. Otherwise (a pipe, a file, TERM=dumb) plain lines only. */
const live = out.isTTY === true && process.env.TERM !== 'dumb'
/** hasColors() honours NO_COLOR, NODE_DISABLE_COLORS and FORCE_COLOR. */
const colour = out.isTTY === true && out.hasColors()
const STATUS_EVERY_MS = live ? 2000 : 10_000

// ---------------------------------------------------------------------------------------------
// Text

const sgr = (code: string) => (s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s)
const dim = sgr('2')
const bold = sgr('1')
const cyan = sgr('36')
const green = sgr('32')
const yellow = sgr('33')
const red = sgr('31')

const clock = (t: number | Date = new Date()) => new Date(t).toTimeString().slice(0, 8)

type Json = Record<string, unknown>

const LEVEL: Record<number, (s: string) => string> = {
  40: (s) => yellow(s),
  50: (s) => red(s),
  60: (s) => red(bold(s)),
}
const LEVEL_NAME: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/** key=value for the fields a reader wants, objects as compact JSON, the whole cut to `max`. */
function fields(o: Json, skip: string[], max = 160): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(o)) {
    if (skip.includes(k) || v === undefined) continue
    // An error object: its message, not its stack.
    if (v && typeof v === 'object' && typeof (v as Json).message === 'string' && 'stack' in v) {
      parts.push(`${k}=${JSON.stringify((v as Json).message)}`)
      continue
    }
    parts.push(`${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
  }
  const s = parts.join(' ')
  return s.length > max ? `${s.slice(0, max - 1)}…` : s
}

/** `weather[0,1,2]` from kafkajs' assignment object. */
const assignment = (a: unknown) =>
  Object.entries((a ?? {}) as Record<string, number[]>)
    .map(([t, ps]) => `${t}[${ps.join(',')}]`)
    .join(' ') || 'none'

/** The value of a consumed message, short: a weather reading as `Oslo 3.2°C 84% 15 km/h`. */
function describeValue(key: unknown, value: unknown): string {
  const v = value as Json | null
  if (v && typeof v === 'object' && typeof v.city === 'string' && typeof v.temperatureC === 'number') {
    const extra = [typeof v.humidityPct === 'number' ? `${v.humidityPct}%` : '', typeof v.windKph === 'number' ? `${v.windKph} km/h` : '']
    return [v.city.padEnd(9), `${v.temperatureC.toFixed(1)}°C`.padStart(7), ...extra].filter(Boolean).join(' ')
  }
  const text = `${key === null || key === undefined ? '' : `${String(key)} `}${JSON.stringify(value)}`
  return text.length > 100 ? `${text.slice(0, 99)}…` : text
}

/** One service log line (pino JSON) as a line for a person, or undefined to leave it out. */
function formatService(o: Json): string | undefined {
  const level = Number(o.level ?? 30)
  const msg = String(o.msg ?? '')
  const at = dim(clock(Number(o.time ?? Date.now())))
  const skip = ['level', 'time', 'service', 'pid', 'hostname', 'msg']
  // kafkajs' own info lines repeat what the service says in its own words.
  if (o.component === 'kafkajs' && level < 40) return undefined
  if (msg === 'consumed') {
    return `${at} ${green('consumed')} ${`${o.topic}[${o.partition}]@${o.offset}`.padEnd(16)} ${describeValue(o.key, o.value)}`
  }
  if (msg === 'starting consumer') {
    const c = (o.config ?? {}) as Json
    const mode = c.commitMode === 'sync' ? `sync, window ${c.commitWindow}` : String(c.commitMode)
    const from = c.fromBeginning ? 'from the beginning' : 'from the end'
    const handler = c.handler === 'log' ? '' : `, handler ${c.handler}`
    return `${at} ${cyan('starting consumer')}: ${mode}, topic ${String(c.topics)}, group ${c.groupId}, ${from}${handler}`
  }
  if (msg === 'joined the consumer group') {
    return `${at} ${cyan(msg)} ${o.groupId}: assigned ${assignment(o.assignment)} (generation ${o.generation})`
  }
  // The demo prints the endpoints itself once the service listens.
  if (msg.startsWith('Server listening at')) return undefined
  const tag = level >= 40 ? (LEVEL[level] ?? ((s: string) => s))(LEVEL_NAME[level] ?? String(level)) + ' ' : ''
  const rest = fields(o, skip)
  const important = /shutdown|final commit|left the consumer group|exit/.test(msg)
  return `${at} ${tag}${important ? bold(msg) : msg}${rest ? ' ' + dim(rest) : ''}`
}

/** The producer writes JSON too (its own small format). */
function formatProducer(o: Json): string | undefined {
  const at = dim(clock())
  if (o.msg === 'produced') return undefined // the footer counts produced messages
  if (o.msg === 'weather producer started') return `${at} ${dim('producer:')} started, sending to ${o.topic}`
  return `${at} ${dim('producer:')} ${String(o.msg)}${fields(o, ['msg']) ? ' ' + dim(fields(o, ['msg'])) : ''}`
}

// ---------------------------------------------------------------------------------------------
// Screen: log lines scroll; on a terminal a two-line status footer stays at the bottom.

let footer: string[] = []
/** Three columns spare: the terminal echoes `^C` after the footer, and it must not wrap. */
const width = () => Math.max(40, (out.columns ?? 100) - 3)
/** Cut to the terminal width, counting visible characters only (so the footer never wraps). */
function fit(s: string): string {
  const w = width()
  let visible = 0
  let result = ''
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\x1b') {
      const end = s.indexOf('m', i)
      result += s.slice(i, end + 1)
      i = end
      continue
    }
    if (visible === w) return result + (colour ? '\x1b[0m' : '')
    result += s[i]
    visible++
  }
  return result
}
function clearFooter(): void {
  if (!live || footer.length === 0) return
  out.write('\r\x1b[2K' + '\x1b[1A\x1b[2K'.repeat(footer.length - 1))
}
function drawFooter(): void {
  if (live && footer.length > 0) out.write(footer.map(fit).join('\n'))
}
function print(line: string): void {
  clearFooter()
  out.write(line + '\n')
  drawFooter()
}
function setFooter(lines: string[]): void {
  clearFooter()
  footer = lines
  if (live) drawFooter()
  else for (const l of lines) out.write(l + '\n')
}
const say = (text: string) => print(`${dim(clock())} ${cyan('[demo]')} ${text}`)

// ---------------------------------------------------------------------------------------------
// What the demo knows about the run

const tally = {
  consumed: 0,
  lastConsumed: '',
  port: 0,
  finalCommit: undefined as Json | undefined,
  complete: undefined as Json | undefined,
  /** The first error or fatal line of the service (why it stopped, when it stopped on its own). */
  failure: undefined as string | undefined,
  stderr: [] as string[],
  stopReason: '',
  metrics: { processedOk: 0, processedFailed: 0, committed: 0, atRisk: 0, lost: 0 },
  ready: 'starting',
  produced: 0,
}

/** Sum every sample of a metric (all label sets) in Prometheus text format; optional label filter. */
function sumMetric(text: string, name: string, filter?: RegExp): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name || (filter && !filter.test(m[2] ?? ''))) continue
    const v = Number(m[3])
    if (Number.isFinite(v)) total += v
  }
  return total
}

// ---------------------------------------------------------------------------------------------
// The run

let cluster: MockCluster
try {
  cluster = MockCluster.start({ brokers: 1, topics: { [topic]: partitions } })
} catch (err) {
  // librdkafka missing: its message says what to install; no stack trace for a newcomer.
  process.stderr.write(`${red('cannot start the demo broker:')} ${(err as Error).message}\n`)
  process.exit(1)
}
const brokers = [cluster.bootstrapServers]
const admin: Admin = new Kafka({ clientId: 'amo-demo-admin', brokers, logLevel: logLevel.NOTHING }).admin()
const adminReady = admin.connect().then(
  () => true,
  () => false,
)
const startedAt = Date.now()

print(bold('amo-consumer demo') + dim(': each offset is committed before its message is processed'))
say(`broker ${brokers[0]}: librdkafka ${MockCluster.librdkafkaVersion()} mock cluster`)
say(`topic ${topic}, ${partitions} partitions; 8 readings every ${process.env.PRODUCER_INTERVAL_MS ?? 1000} ms`)
say(raw ? 'DEMO_RAW=1: the service\'s JSON lines as it writes them' : 'the service logs JSON; shown as short lines (DEMO_RAW=1: as is)')

const common = { ...process.env, KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: topic }

/** Children in process groups of their own: Ctrl-C reaches only this script, which sends each ONE SIGTERM. */
function start(name: string, file: string, env: NodeJS.ProcessEnv, format: (o: Json) => string | undefined): ChildProcess {
  const child = spawn(process.execPath, [file], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const onLine = (line: string) => {
    if (!line.trim()) return
    let o: Json | undefined
    try {
      o = JSON.parse(line) as Json
    } catch {
      // not JSON: pass it through
    }
    if (o && typeof o === 'object') observe(name, o)
    if (raw && name === 'service') return print(line)
    const text = o && typeof o === 'object' ? format(o) : `${dim(clock())} ${dim(name + ':')} ${line}`
    if (text !== undefined) print(text)
  }
  createInterface({ input: child.stdout! }).on('line', onLine)
  createInterface({ input: child.stderr! }).on('line', (l) => {
    if (name === 'service') tally.stderr.push(l)
    print(`${dim(clock())} ${dim(name + ' (stderr):')} ${l}`)
  })
  return child
}

/** Keep what the summary needs from the service's lines. */
function observe(name: string, o: Json): void {
  if (name !== 'service') return
  const msg = String(o.msg ?? '')
  if (msg === 'consumed') {
    tally.consumed++
    tally.lastConsumed = `${o.topic}[${o.partition}]@${o.offset}`
  } else if (msg.startsWith('final commit')) tally.finalCommit = o
  else if (msg.startsWith('shutdown complete') || msg.startsWith('shutdown finished')) tally.complete = o
  if (Number(o.level) >= 50 && tally.failure === undefined) {
    const err = o.err as Json | undefined
    tally.failure = typeof err?.message === 'string' ? `${msg}: ${err.message}` : msg
  }
  const m = /^Server listening at http:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)/.exec(msg)
  if (m && !tally.port) {
    tally.port = Number(m[1])
    const url = `http://localhost:${tally.port}`
    setImmediate(() => say(`endpoints: ${bold(`${url}/healthz`)}, ${bold('/readyz')}, ${bold('/metrics')}`))
  }
}

const service = start(
  'service',
  'dist/server.js',
  { ...common, PORT: process.env.PORT ?? '8080', KAFKA_GROUP_ID: groupId },
  formatService,
)
const producer = start('producer', 'dist/producer/weather.js', { ...common, PRODUCER_INTERVAL_MS: process.env.PRODUCER_INTERVAL_MS ?? '1000' }, formatProducer)
const exits = new Map<ChildProcess, { code: number | null; signal: NodeJS.Signals | null }>()
for (const [name, child] of [['service', service], ['producer', producer]] as const) {
  child.on('exit', (code, signal) => {
    exits.set(child, { code, signal })
    say(`${name} exited (${signal ?? `code ${code}`})`)
  })
}

/** Messages the broker acknowledged: the sum of the topic's end offsets. */
async function endOffsets(): Promise<Map<number, number> | undefined> {
  if (!(await adminReady)) return undefined
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]))
  } catch {
    return undefined
  }
}

async function refresh(): Promise<void> {
  const ends = await endOffsets()
  if (ends) tally.produced = [...ends.values()].reduce((a, b) => a + b, 0)
  if (!tally.port) return
  const base = `http://127.0.0.1:${tally.port}`
  try {
    const [metrics, ready] = await Promise.all([
      fetch(`${base}/metrics`, { signal: AbortSignal.timeout(1000) }).then((r) => r.text()),
      fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status),
    ])
    tally.metrics = {
      processedOk: sumMetric(metrics, 'consumer_messages_processed_total', /status="ok"/),
      processedFailed: sumMetric(metrics, 'consumer_messages_processed_total', /status="failed"/),
      committed: sumMetric(metrics, 'consumer_messages_committed_total'),
      atRisk: sumMetric(metrics, 'consumer_messages_at_risk'),
      lost: sumMetric(metrics, 'consumer_messages_lost_total'),
    }
    tally.ready = ready === 200 ? 'ready' : 'not ready'
  } catch {
    tally.ready = 'no answer'
  }
}

function status(): string[] {
  const m = tally.metrics
  const readyText = tally.ready === 'ready' ? green('ready') : yellow(tally.ready)
  const url = tally.port ? `http://localhost:${tally.port}` : 'http://localhost:…'
  const full = `${url}/healthz  ${url}/readyz  ${url}/metrics`
  return [
    `${dim('──')} ${clock()} ${readyText}  produced ${bold(String(tally.produced))}  consumed ${bold(String(m.processedOk + m.processedFailed))}` +
      `  committed ${bold(String(m.committed))}  at risk ${m.atRisk}  lost ${m.lost}  ${dim('Ctrl-C stops')}`,
    `${dim('──')} ${full.length + 3 <= width() ? full : `${url}/{healthz,readyz,metrics}`}`,
  ]
}

let stopping = false
const ticker = setInterval(() => {
  void refresh().then(() => {
    if (!stopping) setFooter(status())
  })
}, STATUS_EVERY_MS)

const exited = (c: ChildProcess) => new Promise<void>((r) => (exits.has(c) ? r() : c.once('exit', () => r())))

async function stop(reason: string): Promise<void> {
  if (stopping) {
    // A second Ctrl-C: the service's second signal forces it out at once (exit 1, no final commit).
    if (reason === 'SIGINT' && !exits.has(service)) {
      say('second Ctrl-C: a second SIGTERM forces the service out now (exit 1)')
      service.kill('SIGTERM')
    }
    return
  }
  stopping = true
  tally.stopReason = reason
  await refresh()
  clearInterval(ticker)
  setFooter([])
  if (reason !== 'service exit') {
    say(`${reason}: producer stopped first, then ONE SIGTERM to the service`)
    producer.kill('SIGTERM')
    await exited(producer)
    service.kill('SIGTERM')
  } else {
    producer.kill('SIGTERM')
    await exited(producer)
  }
  await exited(service)
  const ends = await endOffsets()
  let committed: Map<number, number> | undefined
  try {
    if (await adminReady) {
      const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
      committed = new Map((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
    }
  } catch {
    committed = undefined
  }
  await admin.disconnect().catch(() => undefined)
  cluster.close()
  const code = exits.get(service)?.code ?? 1
  summary(ends, committed, code)
  process.exit(code)
}

function summary(ends: Map<number, number> | undefined, committed: Map<number, number> | undefined, code: number): void {
  const secs = Math.round((Date.now() - startedAt) / 1000)
  const sum = (m?: Map<number, number>) => [...(m?.values() ?? [])].reduce((a, b) => a + Math.max(0, b), 0)
  const perPartition = (m?: Map<number, number>) =>
    [...(m?.entries() ?? [])]
      .sort(([a], [b]) => a - b)
      .map(([p, o]) => `[${p}]=${o < 0 ? '–' : o}`)
      .join(' ')
  const produced = ends ? sum(ends) : tally.produced
  const committedCount = committed ? sum(committed) : tally.metrics.committed
  const allIn = ends && committed && [...ends].every(([p, end]) => committed.get(p) === end)
  const fc = tally.finalCommit
  const fcText = fc
    ? `"${fc.msg}"${fc.offsets ? ' ' + JSON.stringify(fc.offsets) : ''}${fc.pending === 0 ? dim(fc.mode === 'sync' ? ' (sync: nothing left to flush)' : ' (every commit was acknowledged)') : ''}`
    : 'none logged'
  const done = tally.complete ? `last line "${tally.complete.msg}"` : 'no shutdown line'
  const why = tally.failure ?? tally.stderr.at(-1)
  const row = (k: string, v: string) => `  ${k.padEnd(13)}${v}`
  const lines = [
    '',
    bold(`summary — ${secs} s, topic ${topic} (${partitions} partitions), group ${groupId}`),
    row('produced', `${produced}  ${dim(`(end offsets on the broker: ${perPartition(ends)})`)}`),
    row('consumed', `${tally.consumed}  ${dim(`("consumed" lines; last ${tally.lastConsumed || '–'})`)}`),
    row(
      'committed',
      `${committedCount}  ${dim(`(group offsets on the broker: ${perPartition(committed) || 'none'})`)}`,
    ),
    row('', allIn ? green('= end offsets: every produced message was committed') : yellow('≠ end offsets: the group had not caught up')),
    row('at risk/lost', `${tally.metrics.atRisk} / ${tally.metrics.lost}  ${dim('(last scrape of /metrics)')}`),
    row('final commit', fcText),
    row('service', `exit code ${code === 0 ? green('0') : red(String(code))}; ${done}`),
  ]
  if (code !== 0 && why) lines.push(row('', red(`it stopped because: ${why}`)))
  if (code !== 0 && tally.metrics.atRisk > 0) {
    lines.push(row('', yellow(`${tally.metrics.atRisk} committed, not processed at the last scrape: lost if never processed (at most once)`)))
  }
  if (why && /EADDRINUSE/.test(why)) lines.push(row('', `port ${process.env.PORT ?? 8080} is taken: try PORT=8081 npm run demo`))
  if (tally.stopReason === 'SIGINT') lines.push(dim('  (npm run demo itself exits 130 after Ctrl-C: npm reports the interrupt)'))
  for (const l of lines) out.write(l + '\n')
}

process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGTERM', () => void stop('SIGTERM'))
service.once('exit', () => void stop('service exit'))
