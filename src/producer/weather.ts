/**
 * A weather producer: one JSON reading per city every PRODUCER_INTERVAL_MS, keyed by city,
 * each with a sequence number. Used by `npm run demo` and the compose stack.
 *
 *   KAFKA_BROKERS=localhost:9092 node dist/producer/weather.js
 *
 * Environment: KAFKA_BROKERS (required), KAFKA_TOPICS (the first topic is used; default
 * weather), PRODUCER_INTERVAL_MS (default 1000), PRODUCER_COUNT (stop after this many
 * readings; default: run until SIGTERM/SIGINT). Tracing: the service's OTEL_* variables
 * (OTEL_TRACES_EXPORTER=zipkin|otlp turns it on): each message gets a `<topic> send` span whose
 * context goes in its traceparent header, so the consumer's span of it joins the same trace.
 */
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { pino } from 'pino'
import { logWarnings } from '../warnings.ts'
import { tracingOptions, type TracingEnv } from '../tracing/options.ts'
import { endSend, traceSend } from '../tracing/producer.ts'
import { startTracing } from '../tracing/sdk.ts'

export const CITIES = ['Lisbon', 'Oslo', 'Nairobi', 'Lima', 'Osaka', 'Reykjavik', 'Cairo', 'Sydney'] as const

export interface WeatherReading {
  seq: number
  city: string
  temperatureC: number
  humidityPct: number
  windKph: number
  observedAt: string
}

const BASE_TEMP: Record<string, number> = { Lisbon: 18, Oslo: 4, Nairobi: 22, Lima: 19, Osaka: 16, Reykjavik: 2, Cairo: 27, Sydney: 21 }

/** A plausible reading for `city`, deterministic in `seq`. */
export function reading(seq: number, city: string, now = new Date()): WeatherReading {
  const wave = Math.sin(seq / 7)
  return {
    seq,
    city,
    temperatureC: Math.round(((BASE_TEMP[city] ?? 15) + 4 * wave) * 10) / 10,
    humidityPct: Math.round(55 + 30 * Math.cos(seq / 5)),
    windKph: Math.round(12 + 10 * Math.abs(Math.sin(seq / 3))),
    observedAt: now.toISOString(),
  }
}

async function main(): Promise<void> {
  const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  if (brokers.length === 0) {
    console.error('KAFKA_BROKERS is required (comma-separated host:port list)')
    process.exit(1)
  }
  const topic = (process.env.KAFKA_TOPICS ?? 'weather').split(',')[0]!.trim()
  const intervalMs = Number(process.env.PRODUCER_INTERVAL_MS ?? 1000)
  const limit = process.env.PRODUCER_COUNT ? Number(process.env.PRODUCER_COUNT) : Infinity
  const kafka = new Kafka({ clientId: 'weather-producer', brokers, logLevel: logLevel.WARN, retry: { retries: 10 } })
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
  const log = pino({ base: { service: 'weather-producer' } })
  logWarnings(log)
  const tracing = startTracing(tracingOptions({ OTEL_SERVICE_NAME: 'weather-producer', ...(process.env as TracingEnv) }), log)
  await producer.connect()
  let seq = 0
  let running = true
  const stop = () => {
    running = false
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  console.log(JSON.stringify({ msg: 'weather producer started', topic, brokers, intervalMs }))
  while (running && seq < limit) {
    const now = new Date()
    const messages = CITIES.map((city) => ({ key: city, value: JSON.stringify(reading(seq++, city, now)) }))
    const spans = tracing ? traceSend(topic, messages) : undefined
    try {
      await producer.send({ topic, messages })
      if (spans) endSend(spans)
    } catch (err) {
      if (spans) endSend(spans, err)
      throw err
    }
    if (seq % 80 === 0) console.log(JSON.stringify({ msg: 'produced', topic, total: seq }))
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  await producer.disconnect()
  await tracing?.shutdown()
  console.log(JSON.stringify({ msg: 'weather producer stopped', total: seq }))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
