/**
 * `npm run demo`: a local Kafka-protocol broker (librdkafka's mock cluster) with a `weather`
 * topic, the weather producer, and the service against them. Ctrl-C shuts everything down
 * gracefully; the service's final commit shows in its log.
 *
 * Environment: PORT (default 8080), DEMO_PARTITIONS (default 3), PRODUCER_INTERVAL_MS
 * (default 1000), and any service variable (COMMIT_MODE, COMMIT_WINDOW, HANDLER, ...).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const port = process.env.PORT ?? '8080'
const partitions = Number(process.env.DEMO_PARTITIONS ?? 3)

const say = (text: string) => process.stderr.write(`\x1b[36m[demo]\x1b[0m ${text}\n`)

const cluster = MockCluster.start({ brokers: 1, topics: { weather: partitions } })
say(`Kafka-protocol broker (librdkafka ${MockCluster.librdkafkaVersion()} mock cluster) at ${cluster.bootstrapServers}, topic weather with ${partitions} partitions`)

const common = { ...process.env, KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'weather' }
// Own process groups: Ctrl-C reaches only this script, which then sends ONE SIGTERM to each
// (a second signal would force the service to exit 1 without its final commit).
const start = (name: string, file: string, env: NodeJS.ProcessEnv): ChildProcess => {
  const child = spawn(process.execPath, [file], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'], detached: true })
  child.on('exit', (code, signal) => say(`${name} exited (${signal ?? `code ${code}`})`))
  return child
}
const service = start('service', 'dist/server.js', { ...common, PORT: port, KAFKA_GROUP_ID: process.env.KAFKA_GROUP_ID ?? 'amo-demo' })
const producer = start('producer', 'dist/producer/weather.js', { ...common, PRODUCER_INTERVAL_MS: process.env.PRODUCER_INTERVAL_MS ?? '1000' })

setTimeout(() => {
  say(`endpoints:  http://localhost:${port}/healthz   http://localhost:${port}/readyz   http://localhost:${port}/metrics`)
  say('try: curl -s localhost:' + port + '/metrics | grep consumer_messages_   — Ctrl-C stops everything gracefully')
}, 500)

let stopping = false
const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())))
async function stop(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  say(`${signal}: stopping the producer, then the service (watch for "final commit" and "left the consumer group")`)
  producer.kill('SIGTERM')
  await exited(producer)
  service.kill('SIGTERM')
  await exited(service)
  cluster.close()
  say('broker stopped; bye')
  process.exit(service.exitCode ?? 0)
}
process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGTERM', () => void stop('SIGTERM'))
service.once('exit', () => void stop('service exit'))
