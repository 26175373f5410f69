/**
 * docker-compose.yml and its Prometheus config, checked without a Docker engine: the Compose
 * CLI validates the file, and the parsed YAML must agree with the service's configuration
 * contract (src/config/schema.ts) and its shutdown behaviour.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { posix } from 'node:path'
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

/** The host path (relative to the repo) a container path of `s` is mounted from, if any. */
function hostPathOf(s: Service, containerPath: string): string | undefined {
  for (const v of s.volumes ?? []) {
    const [host, target] = v.split(':')
    if (!host || !target || !host.startsWith('.')) continue
    if (containerPath === target) return host
    if (containerPath.startsWith(`${target.replace(/\/$/, '')}/`)) return posix.join(host, containerPath.slice(target.replace(/\/$/, '').length + 1))
  }
  return undefined
}

const readYaml = <T>(relPath: string): T => parse(readFileSync(new URL(relPath, root), 'utf8')) as T

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
    assert.match(interpolateDefault(kafka.image ?? ''), /^apache\/kafka:\d+\.\d+\.\d+$/, 'a pinned apache/kafka image')
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

  it('runs the Kafka version the integration tier proves, named once, configured like the launcher', async () => {
    const kafka = service('kafka')
    const image = kafka.image ?? ''
    assert.match(image, /^apache\/kafka:\$\{KAFKA_VERSION:-\d+\.\d+\.\d+\}$/, 'the version is a KAFKA_VERSION default')
    assert.equal(service('kafka-init').image, image, 'kafka-init runs the same Kafka image')
    const launcher = new URL('harness/brokers/apache-kafka/index.ts', root)
    assert.ok(existsSync(launcher), `${launcher.pathname} (the Apache Kafka launcher of the integration tier) is missing`)
    const { DEFAULT_KAFKA_VERSION } = (await import(launcher.href)) as { DEFAULT_KAFKA_VERSION: string }
    assert.equal(interpolateDefault(image), `apache/kafka:${DEFAULT_KAFKA_VERSION}`, 'compose runs the version the tier proves')
    const env = envMap(kafka)
    // As the launcher (and a real cluster) runs: no topic appears because a client asked for it;
    // internal topics replicated as far as one node allows.
    assert.equal(env.get('KAFKA_AUTO_CREATE_TOPICS_ENABLE'), 'false')
    for (const name of [
      'KAFKA_DEFAULT_REPLICATION_FACTOR',
      'KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR',
      'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR',
      'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR',
      'KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR',
      'KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR',
      'KAFKA_MIN_INSYNC_REPLICAS',
    ]) {
      assert.equal(env.get(name), '1', `${name}=1 on a single node`)
    }
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
    assert.equal(consumer.command, undefined, 'the consumer runs the image\'s CMD, with the Node flags of package.json "start"')
    assert.ok(!envMap(consumer).has('NODE_OPTIONS'), 'no NODE_OPTIONS: the image\'s CMD carries the flags')
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

  it('has Prometheus load the alert rules file the chart ships (deploy/prometheus/alerts.yml)', () => {
    const prometheus = service('prometheus')
    const configHost = hostPathOf(prometheus, '/etc/prometheus/prometheus.yml')
    assert.ok(configHost, 'the Prometheus config is mounted at /etc/prometheus/prometheus.yml')
    const promConfig = readYaml<{ rule_files?: string[] }>(configHost)
    const ruleFiles = promConfig.rule_files ?? []
    assert.ok(ruleFiles.length > 0, 'prometheus.yml lists rule_files')
    const hosts = ruleFiles.map((f) => {
      // Relative rule_files are resolved against the config file's directory.
      const inContainer = posix.isAbsolute(f) ? f : posix.join('/etc/prometheus', f)
      const host = hostPathOf(prometheus, inContainer)
      assert.ok(host, `rule file ${inContainer} is mounted into the prometheus container`)
      assert.ok(existsSync(new URL(host, root)), `${host} exists`)
      return posix.normalize(host)
    })
    assert.ok(hosts.includes('deploy/prometheus/alerts.yml'), `the alert rules are loaded, got ${hosts.join(', ')}`)
  })

  it('has Zipkin (pinned, UI port 9411) and traces consumer and producer into it by the OTEL_* variables', () => {
    const zipkin = service('zipkin')
    assert.match(zipkin.image ?? '', /^openzipkin\/zipkin:\d+\.\d+\.\d+$/, 'a pinned Zipkin image')
    assert.ok((zipkin.ports ?? []).some((p) => String(p).startsWith('9411:9411')), 'the UI and API on localhost:9411')
    for (const [name, serviceName] of [['consumer', 'amo-consumer'], ['producer', 'weather-producer']] as const) {
      const env = envMap(service(name))
      assert.equal(interpolateDefault(env.get('OTEL_TRACES_EXPORTER') ?? ''), 'zipkin', `${name}: tracing on by default`)
      assert.equal(env.get('OTEL_EXPORTER_ZIPKIN_ENDPOINT'), 'http://zipkin:9411/api/v2/spans', `${name} exports to the zipkin service`)
      assert.equal(env.get('OTEL_SERVICE_NAME'), serviceName)
      assert.ok(dependsOn(service(name)).has('zipkin'), `${name} starts after zipkin`)
    }
  })

  it('has Grafana with the Prometheus data source and the amo-consumer dashboard provisioned, anonymous viewer', () => {
    const grafana = service('grafana')
    assert.match(grafana.image ?? '', /^grafana\/grafana(-oss)?:\d+\.\d+\.\d+$/, 'a pinned Grafana OSS image')
    const env = envMap(grafana)
    assert.equal(env.get('GF_AUTH_ANONYMOUS_ENABLED'), 'true')
    assert.equal(env.get('GF_AUTH_ANONYMOUS_ORG_ROLE'), 'Viewer')
    assert.ok(dependsOn(grafana).has('prometheus'))
    const ports = (grafana.ports ?? []).map(String)
    assert.ok(ports.some((p) => /(^|:)3000$/.test(p)), 'grafana publishes 3000')

    const provisioning = hostPathOf(grafana, '/etc/grafana/provisioning')
    assert.ok(provisioning, 'provisioning is mounted at /etc/grafana/provisioning')
    const datasources = readYaml<{ datasources: { type: string; url: string; isDefault?: boolean }[] }>(
      posix.join(provisioning, 'datasources/prometheus.yml'),
    ).datasources
    const promDs = datasources.find((d) => d.type === 'prometheus')
    assert.ok(promDs, 'a Prometheus data source is provisioned')
    assert.equal(promDs.url, 'http://prometheus:9090', 'the data source is the stack\'s Prometheus service')

    const providers = readYaml<{ providers: { type: string; options: { path: string } }[] }>(
      posix.join(provisioning, 'dashboards/amo-consumer.yml'),
    ).providers
    const provider = providers.find((p) => p.type === 'file')
    assert.ok(provider, 'a file dashboard provider')
    const dashboard = hostPathOf(grafana, posix.join(provider.options.path, 'amo-consumer.json'))
    assert.equal(dashboard && posix.normalize(dashboard), 'deploy/grafana/dashboards/amo-consumer.json', 'the canonical dashboard is what Grafana loads')
    const home = env.get('GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH')
    assert.ok(home && hostPathOf(grafana, home) && existsSync(new URL(hostPathOf(grafana, home)!, root)), 'the home dashboard is the mounted one')
  })
})
