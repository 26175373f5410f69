/**
 * Bad configuration stops the real process before any connection: exit 1 and one line that
 * names the variable. And, in process, what src/config/load.ts makes of a valid environment.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { ROOT, SERVER, startService } from '../harness/service-process.ts'
import { redactConfig, toServiceConfig } from '../src/config/load.ts'

const GOOD = { KAFKA_BROKERS: '127.0.0.1:1' } // a closed port: any connection attempt would be logged

const cases: Array<{ name: string; env: Record<string, string>; variable: string; says: RegExp }> = [
  { name: 'no KAFKA_BROKERS', env: {}, variable: 'KAFKA_BROKERS', says: /KAFKA_BROKERS is required/ },
  { name: 'KAFKA_BROKERS without a port', env: { KAFKA_BROKERS: 'kafka' }, variable: 'KAFKA_BROKERS', says: /host:port/ },
  { name: 'COMMIT_MODE=sometimes', env: { ...GOOD, COMMIT_MODE: 'sometimes' }, variable: 'COMMIT_MODE', says: /COMMIT_MODE="sometimes": COMMIT_MODE must be one of: sync, async, auto/ },
  { name: 'COMMIT_WINDOW=0', env: { ...GOOD, COMMIT_WINDOW: '0' }, variable: 'COMMIT_WINDOW', says: /COMMIT_WINDOW="0": COMMIT_WINDOW must be >= 1/ },
  { name: 'PORT=abc', env: { ...GOOD, PORT: 'abc' }, variable: 'PORT', says: /PORT="abc": PORT must be integer/ },
  { name: 'VALUE_FORMAT=xml', env: { ...GOOD, VALUE_FORMAT: 'xml' }, variable: 'VALUE_FORMAT', says: /VALUE_FORMAT must be one of: json, text, binary/ },
  { name: 'KAFKA_FROM_BEGINNING=maybe', env: { ...GOOD, KAFKA_FROM_BEGINNING: 'maybe' }, variable: 'KAFKA_FROM_BEGINNING', says: /must be boolean/ },
  { name: 'SASL mechanism without credentials', env: { ...GOOD, KAFKA_SASL_MECHANISM: 'scram-sha-512' }, variable: 'KAFKA_SASL_USERNAME', says: /KAFKA_SASL_USERNAME is required.*KAFKA_SASL_PASSWORD is required/ },
  { name: 'SASL password missing', env: { ...GOOD, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' }, variable: 'KAFKA_SASL_PASSWORD', says: /KAFKA_SASL_PASSWORD is required/ },
  { name: 'unknown SASL mechanism', env: { ...GOOD, KAFKA_SASL_MECHANISM: 'kerberos' }, variable: 'KAFKA_SASL_MECHANISM', says: /one of: plain, scram-sha-256, scram-sha-512/ },
  { name: 'heartbeat not below session timeout', env: { ...GOOD, KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '6000' }, variable: 'KAFKA_HEARTBEAT_INTERVAL_MS', says: /must be below KAFKA_SESSION_TIMEOUT_MS/ },
  { name: 'HANDLER that does not exist', env: { ...GOOD, HANDLER: './nope/handler.js' }, variable: 'HANDLER', says: /HANDLER="\.\/nope\/handler\.js": no such file/ },
  { name: 'OTEL_TRACES_EXPORTER=jaeger', env: { ...GOOD, OTEL_TRACES_EXPORTER: 'jaeger' }, variable: 'OTEL_TRACES_EXPORTER', says: /OTEL_TRACES_EXPORTER="jaeger": OTEL_TRACES_EXPORTER must be one of: none, otlp, zipkin/ },
  { name: 'OTEL_EXPORTER_ZIPKIN_ENDPOINT without a scheme', env: { ...GOOD, OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'zipkin:9411' }, variable: 'OTEL_EXPORTER_ZIPKIN_ENDPOINT', says: /must be an http:\/\/ or https:\/\/ URL/ },
  { name: 'OTEL_TRACES_SAMPLER=sometimes', env: { ...GOOD, OTEL_TRACES_SAMPLER: 'sometimes' }, variable: 'OTEL_TRACES_SAMPLER', says: /must be one of: always_on, always_off, traceidratio/ },
  { name: 'OTEL_TRACES_SAMPLER_ARG=2', env: { ...GOOD, OTEL_TRACES_SAMPLER_ARG: '2' }, variable: 'OTEL_TRACES_SAMPLER_ARG', says: /OTEL_TRACES_SAMPLER_ARG="2": OTEL_TRACES_SAMPLER_ARG must be <= 1/ },
  { name: 'OTEL_BSP_MAX_QUEUE_SIZE=0', env: { ...GOOD, OTEL_BSP_MAX_QUEUE_SIZE: '0' }, variable: 'OTEL_BSP_MAX_QUEUE_SIZE', says: /OTEL_BSP_MAX_QUEUE_SIZE="0": OTEL_BSP_MAX_QUEUE_SIZE must be >= 1/ },
  { name: 'OTEL_BSP_SCHEDULE_DELAY=1s', env: { ...GOOD, OTEL_BSP_SCHEDULE_DELAY: '1s' }, variable: 'OTEL_BSP_SCHEDULE_DELAY', says: /OTEL_BSP_SCHEDULE_DELAY="1s": OTEL_BSP_SCHEDULE_DELAY must be integer/ },
  { name: 'HANDLER exporting no function', env: { ...GOOD, HANDLER: 'test/fixtures/core-not-a-function.mjs' }, variable: 'HANDLER', says: /default export is not a function/ },
]

describe('bad configuration', () => {
  for (const c of cases) {
    it(`${c.name}: exit 1 before any connection, naming ${c.variable}`, async () => {
      const svc = startService({ ...c.env, PORT: c.env.PORT ?? '0' })
      const exit = await svc.exited
      assert.equal(exit.code, 1, svc.tail())
      const fatal = svc.logs.filter((l) => l.level === 60)
      assert.equal(fatal.length, 1, `exactly one fatal line:\n${svc.tail()}`)
      assert.match(fatal[0]!.msg, new RegExp(c.variable))
      assert.match(fatal[0]!.msg, c.says)
      // Nothing reached Kafka or the HTTP listener.
      assert.ok(!svc.logs.some((l) => l.component === 'kafkajs' || /listening|starting consumer/.test(l.msg)), svc.tail())
    })
  }

  it('logs the SASL password nowhere', async () => {
    const svc = startService({ KAFKA_BROKERS: '127.0.0.1:1', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'user', KAFKA_SASL_PASSWORD: 'hunter2-secret', SHUTDOWN_TIMEOUT_MS: '2000' })
    await svc.waitForLog((l) => l.msg === 'starting consumer', 10_000, 'starting consumer')
    await svc.stop('SIGTERM')
    const all = JSON.stringify(svc.logs) + svc.raw.join('\n')
    assert.ok(!all.includes('hunter2-secret'), 'the password is not in the output')
    assert.ok(all.includes('[redacted]'))
  })
})

describe('test broker', () => {
  it('fails with install advice when librdkafka cannot be loaded', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./harness/brokers/mock-cluster.ts').then(m => m.MockCluster.start())"], {
      cwd: ROOT,
      env: { ...process.env, AMO_LIBRDKAFKA: '/nonexistent/librdkafka.so.1' },
      encoding: 'utf8',
    })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /apt-get install -y librdkafka1/)
  })
})

void SERVER

describe('toServiceConfig and redactConfig (src/config/load.ts, in process)', () => {
  const env = {
    KAFKA_BROKERS: 'a:1, b:2', KAFKA_TOPICS: 'x,y,x', KAFKA_GROUP_ID: 'g', KAFKA_FROM_BEGINNING: true, KAFKA_SESSION_TIMEOUT_MS: 30000,
    KAFKA_HEARTBEAT_INTERVAL_MS: 3000, KAFKA_SSL: true, KAFKA_SSL_CA_FILE: '', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 's3cret',
    COMMIT_MODE: 'sync', COMMIT_WINDOW: 1, ORDERING: 'partition', MAX_IN_FLIGHT: 100, MAX_CALLS_PER_SECOND: 0, BREAKER_THRESHOLD: 5, BREAKER_BACKOFF_MS: 1000, BREAKER_BACKOFF_MAX_MS: 10000, AUTO_COMMIT_INTERVAL_MS: 5000, PARTITION_CONCURRENCY: 'all', HANDLER: 'log', HANDLER_TIMEOUT_MS: 0,
    VALUE_FORMAT: 'json', DEAD_LETTER_TOPIC: '', SHUTDOWN_TIMEOUT_MS: 10000, STALL_TIMEOUT_MS: 60000, PORT: 8080, HOST: '0.0.0.0', LOG_LEVEL: 'info',
  } as const

  it('a smaller span queue alone is enough: the export batch is cut to it', () => {
    assert.deepEqual(toServiceConfig({ ...env, OTEL_BSP_MAX_QUEUE_SIZE: 100, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 512 }).tracing.batch, {
      scheduledDelayMillis: 5000,
      exportTimeoutMillis: 30000,
      maxQueueSize: 100,
      maxExportBatchSize: 100,
    })
  })

  it('never exposes the SASL password in what is logged', () => {
    const cfg = toServiceConfig(env)
    assert.equal(cfg.partitionConcurrency, 'all')
    assert.deepEqual(cfg.ssl, {})
    assert.deepEqual(cfg.brokers, ['a:1', 'b:2'])
    assert.deepEqual(cfg.topics, ['x', 'y'])
    assert.ok(!JSON.stringify(redactConfig(cfg)).includes('s3cret'))
  })
})
