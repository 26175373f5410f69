/**
 * The service's and the producer's JSON lines as short lines for a person:
 * `12:01:03 consumed weather[2]@17 Oslo 3.2°C`, or nothing for a line the demo leaves out.
 */
import { bold, clock, cyan, dim, green, red, yellow } from './style.ts'

export type Json = Record<string, unknown>

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
export function formatService(o: Json): string | undefined {
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
  // A failed handler call (the downstream is down): which message, why; lost, not retried.
  if (msg.startsWith('handler failed') && o.topic !== undefined) {
    const where = `${o.topic}[${o.partition}]@${o.offset}`
    // A loopback origin says nothing here (the demo's downstream): `POST /hook failed: ECONNREFUSED`.
    const why = typeof o.error === 'string' ? o.error.replace(/https?:\/\/(?:127\.0\.0\.1|localhost)(?::\d+)?(?=\/)/g, '') : ''
    return `${at} ${yellow('failed'.padEnd(9))} ${where.padEnd(16)} ${why} ${dim(o.rejected ? '(rejected: lost)' : '(lost)')}`
  }
  // The circuit breaker's two lines (npm run demo -- --downstream), short: the messages above say why.
  if (msg.startsWith('circuit breaker open')) {
    const next = typeof o.nextTryInMs === 'number' ? `, ${o.probe ? 'probe' : 'trial'} in ${(o.nextTryInMs / 1000).toFixed(1)} s` : ''
    return `${at} ${yellow(bold('circuit breaker open'))} after ${String(o.failures)} failures: paused, ${String(o.held ?? 0)} held${next}`
  }
  if (msg.startsWith('circuit breaker closed')) {
    const after = typeof o.openMs === 'number' ? ` after ${(o.openMs / 1000).toFixed(1)} s` : ''
    const probes = Number(o.probes ?? 0)
    return `${at} ${green(bold('circuit breaker closed'))}${after}, ${probes} probe${probes === 1 ? '' : 's'}: resumed, ${String(o.held ?? 0)} held first`
  }
  const tag = level >= 40 ? (LEVEL[level] ?? ((s: string) => s))(LEVEL_NAME[level] ?? String(level)) + ' ' : ''
  const rest = fields(o, skip)
  const important = /shutdown|final commit|left the consumer group|exit/.test(msg)
  return `${at} ${tag}${important ? bold(msg) : msg}${rest ? ' ' + dim(rest) : ''}`
}

/** A message the demo's downstream received (npm run demo -- --downstream): the webhook handler's JSON body. */
export function formatDelivery(o: Json): string {
  return `${dim(clock())} ${green('delivered')} ${`${o.topic}[${o.partition}]@${o.offset}`.padEnd(16)} ${describeValue(o.key, o.value)}`
}

/** The producer writes JSON too (its own small format). */
export function formatProducer(o: Json): string | undefined {
  const at = dim(clock())
  if (o.msg === 'produced') return undefined // the footer counts produced messages
  if (o.msg === 'weather producer started') return `${at} ${dim('producer:')} started, sending to ${o.topic}`
  return `${at} ${dim('producer:')} ${String(o.msg)}${fields(o, ['msg']) ? ' ' + dim(fields(o, ['msg'])) : ''}`
}
