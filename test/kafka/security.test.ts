/**
 * Apache Kafka (one KRaft node) with a SASL_PLAINTEXT listener (SCRAM-SHA-512, user created at
 * start) and an SSL listener (self-signed certificate made with keytool): the right credentials
 * and CA consume; a wrong password or a wrong CA is a clear error, never ready, and the password
 * never appears in any line the service prints.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { makeSelfSignedCert, type ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { eventually, sleep } from '../../harness/kafka-tools.ts'
import { startService, type ServiceProcess } from '../../harness/service-process.ts'
import { consumedSeqs, produceExactly, range, startKafka, uniq } from './support.ts'

const N = 50
/** Every line the process printed, JSON or not. */
const everything = (svc: ServiceProcess) => [...svc.logs.map((l) => JSON.stringify(l)), ...svc.raw].join('\n')

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: SASL/SCRAM-SHA-512 and TLS`, () => {
  let kafka: ApacheKafka
  let scratch: string
  before(async () => {
    kafka = await startKafka({ nodes: 1, sasl: true, ssl: true })
    scratch = mkdtempSync(join(tmpdir(), 'amo-kafka-tls-test-'))
  })
  after(async () => {
    await kafka?.stop()
    if (scratch) rmSync(scratch, { recursive: true, force: true })
  })

  async function topicWithMessages(prefix: string): Promise<string> {
    const topic = uniq(prefix)
    await kafka.createTopic(topic, 2)
    await produceExactly(kafka, topic, N, 2)
    return topic
  }

  async function consumesAll(svc: ServiceProcess): Promise<void> {
    try {
      await svc.waitReady(60_000)
      assert.ok(await eventually(() => svc.consumed().length >= N, 60_000), `consumed ${svc.consumed().length}/${N}\n${svc.tail()}`)
    } finally {
      assert.equal((await svc.stop()).code, 0, svc.tail())
    }
    assert.deepEqual(consumedSeqs(svc), range(N))
  }

  /** Alive, never ready for `ms`, and a log line matching `cause`; then SIGTERM exits 0. */
  async function refused(svc: ServiceProcess, cause: RegExp, code: string, ms = 5000): Promise<void> {
    try {
      // The service's own line (not only kafkajs's) names the cause, with a stable code.
      await svc.waitForLog(
        (l) => l.component === undefined && l.level === 40 && l.code === code && cause.test(String(l.error ?? l.msg)),
        30_000,
        `a service warn line with code ${code} matching ${cause}`,
      )
      const deadline = Date.now() + ms
      while (Date.now() < deadline) {
        assert.equal((await svc.get('/readyz')).status, 503, 'never ready')
        await sleep(500)
      }
      assert.equal((await svc.get('/healthz')).status, 200, 'alive (the broker refusing us is not a reason to restart)')
      assert.equal(svc.consumed().length, 0)
    } finally {
      assert.equal((await svc.stop()).code, 0, svc.tail())
    }
  }

  it('SCRAM-SHA-512 with the right password: consumes; the password is in no log line', async () => {
    const topic = await topicWithMessages('sasl-ok')
    const sasl = kafka.sasl!
    const svc = startService({
      KAFKA_BROKERS: sasl.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`,
      KAFKA_SASL_MECHANISM: sasl.mechanism, KAFKA_SASL_USERNAME: sasl.username, KAFKA_SASL_PASSWORD: sasl.password, LOG_LEVEL: 'debug',
    })
    await consumesAll(svc)
    assert.ok(!everything(svc).includes(sasl.password), 'the password never appears in a log line')
  })

  it('SCRAM-SHA-512 with a wrong password: "authentication failed" in the log, not ready, the password in no log line', async () => {
    const topic = await topicWithMessages('sasl-bad')
    const wrong = `wrong-${uniq('pw')}`
    const svc = startService({
      KAFKA_BROKERS: kafka.sasl!.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`,
      KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: kafka.sasl!.username, KAFKA_SASL_PASSWORD: wrong, LOG_LEVEL: 'debug',
    })
    await refused(svc, /authentication failed/i, 'AMO_AUTH_FAILED')
    assert.ok(!everything(svc).includes(wrong), 'the password never appears in a log line')
    assert.ok(!everything(svc).includes(kafka.sasl!.password))
  })

  it('TLS with the CA given (KAFKA_SSL_CA_FILE): consumes', async () => {
    const topic = await topicWithMessages('tls-ok')
    const svc = startService({
      KAFKA_BROKERS: kafka.ssl!.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`,
      KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: kafka.ssl!.caFile,
    })
    await consumesAll(svc)
  })

  it('TLS with a wrong CA: a certificate error in the log, not ready', async () => {
    const topic = await topicWithMessages('tls-bad')
    const other = await makeSelfSignedCert(scratch, 'not-the-brokers-ca')
    const svc = startService({
      KAFKA_BROKERS: kafka.ssl!.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`,
      KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: other.pemFile,
    })
    await refused(svc, /certificate/i, 'AMO_TLS_FAILED')
  })

  it('TLS without a CA (system CAs only): a certificate error in the log, not ready', async () => {
    const topic = await topicWithMessages('tls-none')
    const svc = startService({
      KAFKA_BROKERS: kafka.ssl!.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`, KAFKA_SSL: 'true',
    })
    await refused(svc, /self.signed certificate/i, 'AMO_TLS_FAILED')
  })
})
