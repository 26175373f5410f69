/**
 * docker-compose.yml and its Prometheus config, checked without a Docker engine: the Compose
 * CLI validates the file, and the parsed YAML must agree with the service's configuration
 * contract (src/config/schema.ts) and its shutdown behaviour.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parse } from 'yaml'
import { CONFIG_VARIABLES, configSchema } from '../src/config/schema.ts'
import { envValueProblem } from './support/ship-config.ts'
import { parseDuration } from './support/ship-duration.ts'

const root = new URL('../', import.meta.url)
const composePath = new URL('docker-compose.yml', root)

interface Service {
  image?: string
  build?: unknown
  command?: string[] | string
  entrypoint?: string[] | string
  environment?: Record<string, unknown> | string[]
  depends_on?: string[] | Record<string, { condition?: string }>
  stop_grace_period?: string
  ports?: (string | number | { target?: number; published?: number })[]
  healthcheck?: { test?: string[] | string; disable?: boolean }
  volumes?: string[]
}
interface ComposeFile {
  services: Record<string, Service>
}

const compose = parse(readFileSync(composePath, 'utf8'), { merge: true }) as ComposeFile

function service(name: string): Service {
  const s = compose.services[name]
  assert.ok(s, `docker-compose.yml has a "${name}" service`)
  return s
}

/** Environment as a map, from either the map or the list ("K=V") syntax. */
function envMap(s: Service): Map<string, string> {
  const env = new Map<string, string>()
  if (Array.isArray(s.environment)) {
    for (const entry of s.environment) {
      const i = entry.indexOf('=')
      env.set(i < 0 ? entry : entry.slice(0, i), i < 0 ? '' : entry.slice(i + 1))
    }
  } else {
    for (const [k, v] of Object.entries(s.environment ?? {})) env.set(k, v == null ? '' : String(v))
  }
  return env
}

/** Resolves `${VAR:-default}` the way Compose does when VAR is unset. */
const interpolateDefault = (v: string): string => v.replace(/\$\{\w+:?-([^}]*)\}/g, '$1')

function dependsOn(s: Service): Map<string, string> {
  const d = new Map<string, string>()
  if (Array.isArray(s.depends_on)) for (const n of s.depends_on) d.set(n, 'service_started')
  else for (const [n, v] of Object.entries(s.depends_on ?? {})) d.set(n, v.condition ?? 'service_started')
  return d
}

const shutdownTimeoutMs = (s: Service): number =>
  Number(interpolateDefault(envMap(s).get('SHUTDOWN_TIMEOUT_MS') ?? String(configSchema.properties.SHUTDOWN_TIMEOUT_MS.default)))

describe('docker-compose.yml', () => {
  it('is accepted by `docker-compose config`', () => {
    const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], {
      cwd: root,
      encoding: 'utf8',
    })
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      assert.fail('docker-compose is not installed; on Debian/Ubuntu: apt-get install -y docker-compose')
    }
    assert.equal(r.status, 0, `docker-compose config rejected the file:\n${r.stderr}${r.stdout}`)
  })

  it('runs Apache Kafka in KRaft mode with a healthcheck', () => {
    const kafka = service('kafka')
    assert.match(kafka.image ?? '', /^apache\/kafka:\d+\.\d+\.\d+$/, 'a pinned apache/kafka image')
    const env = envMap(kafka)
    assert.equal(env.get('KAFKA_PROCESS_ROLES'), 'broker,controller')
    const nodeId = env.get('KAFKA_NODE_ID')
    assert.ok(nodeId, 'KAFKA_NODE_ID set')
    assert.match(env.get('KAFKA_CONTROLLER_QUORUM_VOTERS') ?? '', new RegExp(`^${nodeId}@kafka:\\d+$`))
    assert.match(env.get('KAFKA_ADVERTISED_LISTENERS') ?? '', /\/\/kafka:9092\b/, 'other containers reach kafka:9092')
    const controller = env.get('KAFKA_CONTROLLER_LISTENER_NAMES') ?? ''
    assert.ok(controller && (env.get('KAFKA_LISTENERS') ?? '').includes(`${controller}://`), 'controller listener declared')
    assert.equal(env.get('KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR'), '1', 'single node: offsets topic RF 1')
    const test = kafka.healthcheck?.test
    assert.ok(test && !kafka.healthcheck?.disable, 'kafka has a healthcheck')
    assert.match(Array.isArray(test) ? test.join(' ') : test, /kafka-(topics|broker-api-versions)\.sh/)
  })

  it('creates the weather topic with several partitions in a one-shot job after Kafka is healthy', () => {
    const init = service('kafka-init')
    assert.equal(dependsOn(init).get('kafka'), 'service_healthy')
    const args = [init.entrypoint, init.command].flat().filter((x): x is string => typeof x === 'string').join(' ')
    assert.match(args, /kafka-topics\.sh/)
    assert.match(args, /--create\b/)
    assert.match(args, /--topic weather\b/)
    const partitions = Number(/--partitions (\d+)/.exec(args)?.[1])
    assert.ok(partitions > 1, `weather needs several partitions, got ${partitions}`)
  })

  it('the consumer environment only uses variables the config schema knows', () => {
    const env = envMap(service('consumer'))
    assert.ok(env.size > 0)
    for (const name of env.keys()) {
      assert.ok(CONFIG_VARIABLES.includes(name), `consumer sets ${name}, which src/config/schema.ts does not know`)
    }
    assert.equal(env.get('KAFKA_BROKERS'), 'kafka:9092')
    assert.equal(interpolateDefault(env.get('KAFKA_TOPICS') ?? ''), 'weather')
  })

  it('the consumer environment values satisfy the schema (types, enums, patterns)', () => {
    for (const [name, raw] of envMap(service('consumer'))) {
      const problem = envValueProblem(name, interpolateDefault(raw))
      assert.equal(problem, undefined, problem)
    }
  })

  it('stop_grace_period is above SHUTDOWN_TIMEOUT_MS', () => {
    const consumer = service('consumer')
    assert.ok(consumer.stop_grace_period, 'consumer sets stop_grace_period (Compose default is 10 s)')
    const graceMs = parseDuration(consumer.stop_grace_period)
    const timeoutMs = shutdownTimeoutMs(consumer)
    assert.ok(graceMs > timeoutMs, `stop_grace_period ${graceMs} ms must exceed SHUTDOWN_TIMEOUT_MS ${timeoutMs} ms`)
  })

  it('the consumer is built from the Dockerfile and waits for a healthy Kafka and the topic', () => {
    const consumer = service('consumer')
    assert.ok(consumer.build, 'consumer is built from the Dockerfile')
    const deps = dependsOn(consumer)
    assert.equal(deps.get('kafka'), 'service_healthy')
    assert.equal(deps.get('kafka-init'), 'service_completed_successfully')
    const ports = (consumer.ports ?? []).map((p) => (typeof p === 'object' ? String(p.target) : String(p)))
    assert.ok(
      ports.some((p) => /(^|:)8080$/.test(p)),
      `consumer publishes 8080, got ${ports.join(',')}`,
    )
  })

  it('has a weather producer running the same image', () => {
    const producer = service('producer')
    const consumer = service('consumer')
    assert.equal(producer.image, consumer.image, 'producer uses the consumer image')
    const cmd = Array.isArray(producer.command) ? producer.command.join(' ') : (producer.command ?? '')
    assert.match(cmd, /^node \S*dist\/producer\/weather\.js$/)
    assert.equal(envMap(producer).get('KAFKA_BROKERS'), 'kafka:9092')
    assert.equal(dependsOn(producer).get('kafka'), 'service_healthy')
  })

  it('has Prometheus scraping the consumer port at /metrics', () => {
    const prometheus = service('prometheus')
    assert.match(prometheus.image ?? '', /^prom\/prometheus:v\d+/)
    const ports = (prometheus.ports ?? []).map(String)
    assert.ok(ports.some((p) => /(^|:)9090$/.test(p)), 'prometheus publishes 9090')
    const mount = (prometheus.volumes ?? []).find((v) => v.includes(':/etc/prometheus/prometheus.yml'))
    assert.ok(mount, 'the Prometheus config is mounted')
    const hostPath = mount.split(':')[0] ?? ''
    const promConfig = parse(readFileSync(new URL(hostPath, root), 'utf8')) as {
      scrape_configs: { job_name: string; metrics_path?: string; static_configs?: { targets: string[] }[] }[]
    }
    const port = interpolateDefault(envMap(service('consumer')).get('PORT') ?? '8080')
    const job = promConfig.scrape_configs.find((j) =>
      (j.static_configs ?? []).some((c) => c.targets.includes(`consumer:${port}`)),
    )
    assert.ok(job, `a scrape job targets consumer:${port}`)
    assert.equal(job.metrics_path ?? '/metrics', '/metrics')
  })
})
