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
 * `npm run demo -- --downstream`: the service runs the webhook example handler
 * (examples/webhook/handler.mjs) against a downstream of the demo's own (scripts/demo/downstream.ts),
 * and the key `d` takes that downstream away and brings it back (stdin in raw mode on a terminal;
 * otherwise a `d` written to stdin does the same): the circuit breaker opens, holds what was
 * committed and not started, and closes once the handler's probe passes. A third footer line says
 * the downstream's state, the breaker's, how many are held and how many wait in Kafka.
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
import { SERVICE_NODE_FLAGS } from '../harness/service-process.ts'
import { STATUS_EVERY_MS, print, say, setFooter, status } from './demo/footer.ts'
import { DemoDownstream } from './demo/downstream.ts'
import { formatDelivery, formatProducer, formatService, type Json } from './demo/format.ts'
import { scrape } from './demo/metrics.ts'
import { bold, clock, dim, red } from './demo/style.ts'
import { summary } from './demo/summary.ts'
import { observe, tally } from './demo/tally.ts'

// The pieces, one concern a file, under scripts/demo/: format.ts (the JSON lines as short lines),
// footer.ts (the screen and its status footer), tally.ts (what the run has seen), metrics.ts
// (/metrics and /readyz), summary.ts (the lines after Ctrl-C), style.ts (terminal and colours),
// downstream.ts (--downstream: the webhook handler's downstream, taken away and brought back).

const root = fileURLToPath(new URL('../', import.meta.url))
const partitions = Number(process.env.DEMO_PARTITIONS ?? 3)
const groupId = process.env.KAFKA_GROUP_ID ?? 'amo-demo'
const topic = 'weather'
const raw = process.env.DEMO_RAW === '1'
const args = process.argv.slice(2)
const withDownstream = args.includes('--downstream')
const unknown = args.filter((a) => a !== '--downstream')
if (unknown.length > 0) {
  process.stderr.write(`${red('unknown argument:')} ${unknown.join(' ')}\nusage: npm run demo [-- --downstream]\n`)
  process.exit(2)
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

// --downstream: the demo's downstream, before the service (whose handler needs its URL).
let downstream: DemoDownstream | undefined
/** A terminal on stdin: `d` is a key (raw mode). Not looked at without --downstream: the plain demo leaves stdin alone. */
const keys = withDownstream && process.stdin.isTTY === true
if (withDownstream) {
  try {
    downstream = await DemoDownstream.start((o) => {
      tally.consumed++
      tally.lastConsumed = `${o.topic}[${o.partition}]@${o.offset}`
      print(formatDelivery(o))
    })
  } catch (err) {
    process.stderr.write(`${red('cannot start the demo downstream:')} ${(err as Error).message}\n`)
    cluster.close()
    process.exit(1)
  }
  say(`downstream ${downstream.hookUrl}: the handler examples/webhook/handler.mjs POSTs each message there`)
  say(keys ? `press ${bold('d')} to take the downstream down, and again to bring it back` : `stdin is not a terminal: write ${bold('d')} to it to take the downstream down, and again to bring it back`)
}

/**
 * Children in process groups of their own: Ctrl-C reaches only this script, which sends each ONE
 * SIGTERM. The service gets the Node flags `npm start` and the image give it (SERVICE_NODE_FLAGS).
 */
function start(name: string, file: string, env: NodeJS.ProcessEnv, format: (o: Json) => string | undefined, nodeArgs: readonly string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, file], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const onLine = (line: string) => {
    if (!line.trim()) return
    let o: Json | undefined
    try {
      o = JSON.parse(line) as Json
    } catch {
      // not JSON: pass it through
    }
    const port = o && typeof o === 'object' ? observe(name, o) : undefined
    // The breaker opened or closed: the footer says so now, not at the next tick.
    if (downstream && name === 'service' && String(o?.msg ?? '').startsWith('circuit breaker')) redraw()
    if (raw && name === 'service') print(line)
    else {
      const text = o && typeof o === 'object' ? format(o) : `${dim(clock())} ${dim(name + ':')} ${line}`
      if (text !== undefined) print(text)
    }
    // After the line that told it.
    if (port) say(`endpoints: ${bold(`http://localhost:${port}/healthz`)}, ${bold('/readyz')}, ${bold('/metrics')}`)
  }
  createInterface({ input: child.stdout! }).on('line', onLine)
  createInterface({ input: child.stderr! }).on('line', (l) => {
    if (name === 'service') tally.stderr.push(l)
    print(`${dim(clock())} ${dim(name + ' (stderr):')} ${l}`)
  })
  return child
}

const service = start(
  'service',
  'dist/server.js',
  {
    ...common,
    PORT: process.env.PORT ?? '8080',
    KAFKA_GROUP_ID: groupId,
    ...(downstream ? { HANDLER: 'examples/webhook/handler.mjs', WEBHOOK_URL: downstream.hookUrl } : {}),
  },
  formatService,
  SERVICE_NODE_FLAGS,
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
  if (downstream) tally.downstream = { up: downstream.up, takenDown: downstream.takenDown, keys: keys ? 'key' : 'stdin' }
  const ends = await endOffsets()
  if (ends) tally.produced = [...ends.values()].reduce((a, b) => a + b, 0)
  if (!tally.port) return
  const scraped = await scrape(tally.port)
  if (scraped) {
    tally.metrics = scraped.metrics
    tally.ready = scraped.ready
  } else tally.ready = 'no answer'
}

let stopping = false
function redraw(): void {
  void refresh().then(() => {
    if (!stopping) setFooter(status(tally))
  })
}
const ticker = setInterval(redraw, STATUS_EVERY_MS)

// --downstream: `d` takes the downstream away and brings it back. On a terminal stdin is in raw
// mode (a key, no Enter, no echo), so Ctrl-C arrives as a byte: it is given back to the process
// group as the SIGINT the terminal would have sent (npm sees it too, as without --downstream).
let toggling = false
async function toggle(): Promise<void> {
  if (!downstream || toggling || stopping) return
  toggling = true
  const wasUp = downstream.up
  try {
    await downstream.toggle()
    say(
      wasUp
        ? `downstream ${bold('taken down')}: the handler's POSTs are refused (ECONNREFUSED); d brings it back`
        : `downstream ${bold('back')}: the breaker closes when its next probe passes`,
    )
  } catch (err) {
    say(red(`the downstream could not listen on port ${downstream.port} again: ${(err as Error).message}`))
  }
  toggling = false
  redraw()
}
function releaseKeys(): void {
  if (keys && process.stdin.isRaw) process.stdin.setRawMode(false)
  process.stdin.pause()
}
if (downstream) {
  if (keys) process.stdin.setRawMode(true)
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk: string) => {
    for (const ch of chunk) {
      if (ch === 'd' || ch === 'D') void toggle()
      else if (ch === '\x03' && keys) {
        releaseKeys()
        process.kill(0, 'SIGINT')
      }
    }
  })
}

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
  if (downstream) releaseKeys()
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
  await downstream?.close()
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
  summary({ startedAt, topic, partitions, groupId }, ends, committed, code)
  process.exit(code)
}

process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGTERM', () => void stop('SIGTERM'))
service.once('exit', () => void stop('service exit'))
