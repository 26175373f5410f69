/**
 * Behaviour at the edges, with the service as a real process against the librdkafka mock cluster:
 * a SIGTERM while the group join is pending (held by the coordinator, the broker unreachable, the
 * connect loop between attempts) exits 0 at once; a start-up failure exits 1 with a line saying
 * what failed and never an "exit 0" line; a broker outage at start reads as one warn line per
 * attempt with the real delay to the next one and no error-level chatter, the process alive and
 * not ready, then ready and consuming once the broker is up; a missing topic keeps
 * the process alive and not ready until the topic exists.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { MockCluster, mockServiceArgs } from '../harness/brokers/mock-cluster.ts'
import { eventually, produce, sequence, sleep } from '../harness/kafka-tools.ts'
import { startService, type LogLine, type ServiceProcess } from '../harness/service-process.ts'
import { assertExitLogged, missingTopicCase } from './support/edges-cases.ts'

const UNCAUGHT = fileURLToPath(new URL('./fixtures/edge-uncaught.mjs', import.meta.url))
const LEVEL = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const
const RETRY_LINE = 'cannot start the consumer; retrying'
/** Lines a process that never joined a group (or never started) must not print. */
const NOT_AFTER_NO_JOIN = /^(final commit|left the consumer group)/

function msgs(svc: ServiceProcess, pred: (l: LogLine) => boolean): string[] {
  return svc.logs.filter(pred).map((l) => l.msg)
}

describe('SIGTERM while the group join is pending: exit 0 at once', () => {
  let cluster: MockCluster
  before(() => {
    cluster = MockCluster.start({ brokers: 1, topics: { held: 2, firstjoin: 1, down: 1 } })
  })
  after(() => cluster.close())

  it('the coordinator holds the join (a member died without leaving)', { timeout: 90_000 }, async () => {
    // SHUTDOWN_TIMEOUT_MS is far below the hold: the coordinator waits for the dead member's
    // session (30 s) before it answers the join, so waiting for the join would pass the deadline.
    const env = { KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'held', KAFKA_GROUP_ID: 'g-held', SHUTDOWN_TIMEOUT_MS: '5000' }
    const dead = startService(env)
    await dead.waitReady(40_000)
    await dead.stop('SIGKILL')
    const svc = startService(env)
    await svc.waitForLog((l) => l.component === 'kafkajs' && l.msg === 'Starting', 20_000, 'the join under way')
    await sleep(1500)
    assert.equal((await svc.get('/readyz')).status, 503, 'not ready: the join is pending')
    const exit = await svc.stop('SIGTERM', 30_000)
    assert.equal(exit.code, 0, svc.tail())
    assert.ok(exit.ms < 5000, `gave up the join instead of waiting for it (${exit.ms} ms; SHUTDOWN_TIMEOUT_MS=5000)`)
    assert.ok(!svc.logs.some((l) => l.msg === 'joined the consumer group'), `the join was still pending at the signal\n${svc.tail()}`)
    assert.ok(svc.logs.some((l) => /giving up the join/.test(l.msg)), `the log says the join was given up\n${svc.tail()}`)
    assert.deepEqual(msgs(svc, (l) => NOT_AFTER_NO_JOIN.test(l.msg)), [])
    assert.deepEqual(msgs(svc, (l) => l.level >= LEVEL.error), [], 'no error line')
    assertExitLogged(svc, 0)
  })

  it('a rejoin held by the coordinator (a member frozen during a rebalance): final commit, rejoin given up, group left, exit 0', { timeout: 120_000 }, async () => {
    const rj = MockCluster.start({ brokers: 1, topics: { rejoin: 4 } })
    const env = { KAFKA_BROKERS: rj.bootstrapServers, KAFKA_TOPICS: 'rejoin', KAFKA_GROUP_ID: 'g-rejoin', SHUTDOWN_TIMEOUT_MS: '8000', KAFKA_SESSION_TIMEOUT_MS: '30000', KAFKA_HEARTBEAT_INTERVAL_MS: '1000' }
    // Several members on the mock: the harness's preload works around its late-SyncGroup quirk.
    const args = mockServiceArgs()
    const a = startService(env, { args })
    const b = startService(env, { args })
    let c: ServiceProcess | undefined
    try {
      await a.waitReady(40_000)
      await b.waitReady(60_000)
      // B frozen: the coordinator waits for its rejoin (30 s session) when C arrives.
      b.signal('SIGSTOP')
      c = startService(env, { args })
      await a.waitForLog((l) => l.msg === 'the group is rebalancing', 30_000, 'the rebalance on A')
      await sleep(1500)
      const exit = await a.stop('SIGTERM', 30_000)
      assert.equal(exit.code, 0, a.tail())
      assert.ok(exit.ms < 8000, `gave up the rejoin instead of waiting for it (${exit.ms} ms; SHUTDOWN_TIMEOUT_MS=8000)`)
      const after = a.logs.slice(a.logs.findIndex((l) => l.msg === 'shutdown began')).map((l) => l.msg)
      for (const step of ['final commit: nothing pending', 'the group is rebalancing: giving up the rejoin, then leaving', 'left the consumer group']) {
        assert.ok(after.includes(step), `${step}\n${a.tail()}`)
      }
      assertExitLogged(a, 0)
    } finally {
      b.signal('SIGKILL')
      c?.signal('SIGKILL')
      rj.close()
    }
  })

  it("during the coordinator's first-join wait of a new group", { timeout: 60_000 }, async () => {
    const svc = startService({ KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'firstjoin', KAFKA_GROUP_ID: 'g-firstjoin' })
    await svc.waitForLog((l) => l.component === 'kafkajs' && l.msg === 'Starting', 20_000, 'the join under way')
    const exit = await svc.stop('SIGTERM', 30_000)
    assert.equal(exit.code, 0, svc.tail())
    assert.ok(svc.logs.some((l) => /giving up the join/.test(l.msg)), svc.tail())
    assert.deepEqual(msgs(svc, (l) => NOT_AFTER_NO_JOIN.test(l.msg)), [])
    assertExitLogged(svc, 0)
  })

  it('the broker is unreachable (the connect loop between attempts)', { timeout: 60_000 }, async () => {
    const down = MockCluster.start({ brokers: 1, topics: { down: 1 } })
    try {
      down.brokerDown(1)
      const svc = startService({ KAFKA_BROKERS: down.bootstrapServers, KAFKA_TOPICS: 'down', KAFKA_GROUP_ID: 'g-down' })
      await svc.waitForLog((l) => l.msg === RETRY_LINE && l.attempt === 2, 30_000, 'a second attempt')
      const exit = await svc.stop('SIGTERM', 30_000)
      assert.equal(exit.code, 0, svc.tail())
      assert.ok(svc.logs.some((l) => /giving up the join/.test(l.msg)), svc.tail())
      assert.deepEqual(msgs(svc, (l) => NOT_AFTER_NO_JOIN.test(l.msg)), [])
      assertExitLogged(svc, 0)
    } finally {
      down.close()
    }
  })
})

describe('a start-up failure exits 1 and says what failed, never "exit 0"', () => {
  it('the port is already in use', { timeout: 30_000 }, async () => {
    const taken = net.createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as net.AddressInfo).port
    try {
      // A reachable address is not needed: the service must fail before it connects to Kafka.
      const svc = startService({ KAFKA_BROKERS: '127.0.0.1:9', PORT: String(port) })
      const exit = await svc.exited
      assert.equal(exit.code, 1, svc.tail())
      const fatal = svc.logs.filter((l) => l.level === LEVEL.fatal)
      assert.equal(fatal.length, 1, `one fatal line\n${svc.tail()}`)
      assert.equal(fatal[0]!.code, 'AMO_LISTEN_FAILED')
      assert.equal(fatal[0]!.port, port)
      assert.match(fatal[0]!.msg, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`))
      assert.deepEqual(msgs(svc, (l) => NOT_AFTER_NO_JOIN.test(l.msg) || /shutdown|starting consumer/.test(l.msg)), [], svc.tail())
      assert.ok(!svc.logs.some((l) => l.component === 'kafkajs'), `no connection to Kafka\n${svc.tail()}`)
      assertExitLogged(svc, 1)
    } finally {
      taken.close()
    }
  })

  it('a HANDLER that does not exist', { timeout: 30_000 }, async () => {
    const svc = startService({ KAFKA_BROKERS: '127.0.0.1:9', HANDLER: './no/such/handler.mjs' })
    const exit = await svc.exited
    assert.equal(exit.code, 1, svc.tail())
    const fatal = svc.logs.filter((l) => l.level === LEVEL.fatal)
    assert.equal(fatal.length, 1, svc.tail())
    assert.equal(fatal[0]!.variable, 'HANDLER')
    assert.match(fatal[0]!.msg, /^cannot start: .*HANDLER="\.\/no\/such\/handler\.mjs": no such file/)
    assert.deepEqual(msgs(svc, (l) => NOT_AFTER_NO_JOIN.test(l.msg) || /shutdown|listening|starting consumer/.test(l.msg)), [], svc.tail())
    assertExitLogged(svc, 1)
  })
})

describe('a fatal error while running', () => {
  it('an uncaught exception: graceful shutdown, then exit 1, and the log says so', { timeout: 60_000 }, async () => {
    const cluster = MockCluster.start({ brokers: 1, topics: { bug: 1 } })
    try {
      await produce(cluster.brokers, 'bug', sequence(1, 1))
      const svc = startService({ KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'bug', KAFKA_GROUP_ID: 'g-bug', HANDLER: UNCAUGHT })
      const exit = await svc.exited // by itself, after the first message
      assert.equal(exit.code, 1, svc.tail())
      const fatal = svc.logs.find((l) => l.msg === 'fatal error: shutting down')
      assert.ok(fatal, svc.tail())
      assert.match(JSON.stringify(fatal.err), /uncaught after offset 0/)
      assert.ok(svc.logs.some((l) => l.msg === 'left the consumer group'), 'it shut down gracefully first')
      assertExitLogged(svc, 1)
      assert.equal(svc.logs.at(-1)!.msg, 'shutdown finished after a fatal error: exit 1')
    } finally {
      cluster.close()
    }
  })
})

/**
 * The delay each line announces (retryInMs) is the gap to the next line: never shorter, and not
 * longer than the delay plus the next attempt's own (fast-failing) duration and a margin for a
 * loaded machine. (Before, the announced 0.5-4.7 s hid kafkajs retries of ~9 s.)
 */
function assertAnnouncedDelays(lines: LogLine[]): void {
  for (let i = 0; i + 1 < lines.length; i++) {
    const announced = Number(lines[i]!.retryInMs)
    const gap = Number(lines[i + 1]!.time) - Number(lines[i]!.time)
    assert.ok(gap >= announced - 5 && gap <= announced * 1.5 + 1500, `line ${i + 2} came ${gap} ms after, announced ${announced} ms`)
  }
}

describe('outages and missing topics read well in the log', () => {
  // Was written twice (here and in faults.test.ts); one case now, with the checks of both.
  it('broker unreachable at start: alive, not ready, one warn line per attempt with the real delay to the next (a back-off, not a busy loop), no error-level chatter; ready and consuming once the broker is up', { timeout: 90_000 }, async () => {
    const cluster = MockCluster.start({ brokers: 1, topics: { weather: 2 } })
    try {
      cluster.brokerDown(1)
      const svc = startService({ KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_GROUP_ID: 'g-outage', KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '500' })
      // A window of four attempts (back-off 0.5, 1, 2 s between them), counted, not timed.
      await svc.waitForLog((l) => l.msg === RETRY_LINE && l.attempt === 4, 45_000, 'the fourth attempt')
      const window = [...svc.logs]
      const retries = window.filter((l) => l.msg === RETRY_LINE)
      assert.deepEqual(retries.map((l) => l.attempt), [1, 2, 3, 4], 'one line per attempt')
      assert.deepEqual(
        window.filter((l) => l.level >= LEVEL.warn && l.msg !== RETRY_LINE).map((l) => `${l.component ?? 'service'}: ${l.msg}`),
        [],
        'no other warn or error line, kafkajs included',
      )
      for (const l of retries) {
        assert.match(String(l.error), /ECONNREFUSED/, 'the line says why')
        assert.equal(typeof l.retryInMs, 'number')
      }
      assertAnnouncedDelays(retries)
      // Back-off, not a busy loop: few attempts in the 3 s after the first.
      const inThreeSeconds = retries.filter((l) => Number(l.time) - Number(retries[0]!.time) <= 3000)
      assert.ok(inThreeSeconds.length <= 6, `attempts in 3 s: ${inThreeSeconds.length}`)
      assert.equal((await svc.get('/healthz')).status, 200, 'alive')
      assert.equal((await svc.get('/readyz')).status, 503, 'not ready')
      assert.equal(svc.child.exitCode, null, 'no crash, no exit')
      cluster.brokerUp(1)
      await svc.waitReady(60_000)
      assert.equal((await svc.get('/healthz')).status, 200)
      await produce(cluster.brokers, 'weather', sequence(10, 2))
      assert.ok(await eventually(() => svc.consumed().length === 10, 30_000), svc.tail())
      const exit = await svc.stop('SIGTERM')
      assert.equal(exit.code, 0, svc.tail())
      assert.deepEqual(msgs(svc, (l) => l.level >= LEVEL.error), [], 'no error line at all')
      assertExitLogged(svc, 0)
    } finally {
      cluster.close()
    }
  })

  it('broker gone while consuming: one crash line, then one warn line per restart attempt with the real delay, no error-level chatter; consuming again once it is back', { timeout: 120_000 }, async () => {
    const cluster = MockCluster.start({ brokers: 1, topics: { weather: 2 } })
    try {
      await produce(cluster.brokers, 'weather', sequence(10, 2))
      const svc = startService({ KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_GROUP_ID: 'g-gone', KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '500' })
      await svc.waitReady(40_000)
      assert.ok(await eventually(() => svc.consumed().length === 10, 20_000), svc.tail())
      const from = svc.logs.length
      cluster.brokerDown(1)
      await svc.waitForLog((l) => l.msg === RETRY_LINE && l.attempt === 3, 90_000, 'the third restart attempt')
      const window = svc.logs.slice(from)
      const crash = window.filter((l) => l.msg === 'the consumer crashed; restarting it')
      assert.equal(crash.length, 1, `one crash line\n${svc.tail(30)}`)
      const lines = window.filter((l) => l.level >= LEVEL.warn)
      assert.deepEqual(
        lines.map((l) => (l.msg === RETRY_LINE ? `${l.msg} #${l.attempt}` : l.msg)),
        ['the consumer crashed; restarting it', `${RETRY_LINE} #1`, `${RETRY_LINE} #2`, `${RETRY_LINE} #3`],
        'no other warn or error line, kafkajs included',
      )
      assertAnnouncedDelays(lines)
      assert.equal((await svc.get('/healthz')).status, 200, 'alive')
      assert.equal((await svc.get('/readyz')).status, 503, 'not ready')
      cluster.brokerUp(1)
      await svc.waitReady(60_000)
      await produce(cluster.brokers, 'weather', sequence(4, 2, 10))
      assert.ok(await eventually(() => svc.consumed().length >= 14, 30_000), svc.tail())
      const exit = await svc.stop('SIGTERM')
      assert.equal(exit.code, 0, svc.tail())
      assert.deepEqual(msgs(svc, (l) => l.level >= LEVEL.error), [], 'no error line at all')
      assertExitLogged(svc, 0)
    } finally {
      cluster.close()
    }
  })

  // A topic that does not exist: the case shared with Apache Kafka (test/support/edges-cases.ts).
  describe('on a mock cluster of its own', () => {
    let cluster: MockCluster
    let n = 0
    before(() => {
      cluster = MockCluster.start({ brokers: 1 })
    })
    after(() => cluster.close())
    missingTopicCase({ kind: 'mock', bootstrap: () => cluster.brokers, createTopic: async (topic, partitions) => cluster.createTopic(topic, partitions) }, (prefix) => `${prefix}-${n++}`)
  })
})
