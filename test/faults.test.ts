/**
 * Fault handling with real service processes against the librdkafka mock cluster: a kafkajs
 * crash without restart, a stalled fetch loop, a handler that outlives
 * the session timeout, and shutdown during a broker outage.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ApiKey, MockCluster, mockServiceArgs } from '../harness/brokers/mock-cluster.ts'
import { eventually, produce, sequence, sleep } from '../harness/kafka-tools.ts'
import { startService } from '../harness/service-process.ts'

const SCRIPTED = fileURLToPath(new URL('./fixtures/scripted-handler.mjs', import.meta.url))
const GROUP_AUTHORIZATION_FAILED = 30
const FAST_GROUP = { KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '500' }

// The broker unreachable at start: edges.test.ts (one case, the checks of the two copies there were).

test('kafkajs crashes without restart (GROUP_AUTHORIZATION_FAILED on JoinGroup): healthz 503, readyz 503, process alive', { timeout: 60_000 }, async () => {
  const cluster = MockCluster.start({ brokers: 1, topics: { weather: 2 } })
  cluster.pushRequestErrors(ApiKey.JoinGroup, [GROUP_AUTHORIZATION_FAILED])
  const svc = startService({ KAFKA_BROKERS: cluster.brokers.join(','), KAFKA_GROUP_ID: 'crash', ...FAST_GROUP })
  try {
    await svc.waitForLog((l) => l.msg === 'the consumer crashed for good; liveness now fails', 40_000, 'crash for good')
    const health = await svc.get('/healthz')
    assert.equal(health.status, 503)
    assert.match(health.body, /crashed/)
    assert.equal((await svc.get('/readyz')).status, 503)
    assert.equal(await svc.metric('consumer_crashes_total', { restart: 'false' }), 1)
    assert.equal(svc.child.exitCode, null, 'the orchestrator restarts it, not the process itself')
    const exit = await svc.stop('SIGTERM')
    assert.equal(exit.code, 0)
  } finally {
    await svc.stop('SIGKILL')
    cluster.close()
  }
})

test('a stalled fetch loop (handler blocking longer than STALL_TIMEOUT_MS) turns healthz 503, and 200 again after', { timeout: 60_000 }, async () => {
  const cluster = MockCluster.start({ brokers: 1, topics: { weather: 1 } })
  await produce(cluster.brokers, 'weather', [
    { partition: 0, value: JSON.stringify({ act: 'sleep', ms: 8000 }) },
    { partition: 0, value: JSON.stringify({ seq: 1 }) },
  ])
  const svc = startService({
    KAFKA_BROKERS: cluster.brokers.join(','),
    KAFKA_GROUP_ID: 'stall',
    HANDLER: SCRIPTED,
    STALL_TIMEOUT_MS: '2000',
    ...FAST_GROUP,
    KAFKA_SESSION_TIMEOUT_MS: '30000',
    KAFKA_HEARTBEAT_INTERVAL_MS: '3000',
  })
  try {
    await svc.waitForLog((l) => l.msg === 'sleeping', 40_000)
    assert.ok(await eventually(async () => (await svc.get('/healthz')).status === 503, 7000, 200), `healthz 503 during the stall\n${svc.tail()}`)
    assert.match((await svc.get('/healthz')).body, /STALL_TIMEOUT_MS/)
    await svc.waitForLog((l) => l.msg === 'consumed' && l.offset === '1', 30_000)
    assert.ok(await eventually(async () => (await svc.get('/healthz')).status === 200, 5000), 'healthy again')
  } finally {
    await svc.stop('SIGTERM')
    cluster.close()
  }
})

test('a handler that outlives the session timeout: its committed message is processed once, the instance rejoins, no duplicate', { timeout: 90_000 }, async () => {
  const cluster = MockCluster.start({ brokers: 1, topics: { weather: 1 } })
  await produce(cluster.brokers, 'weather', [
    { partition: 0, value: JSON.stringify({ seq: 0 }) },
    { partition: 0, value: JSON.stringify({ act: 'sleep', ms: 9000, seq: 1 }) },
    ...Array.from({ length: 8 }, (_, i) => ({ partition: 0, value: JSON.stringify({ seq: i + 2 }) })),
  ])
  const svc = startService({ KAFKA_BROKERS: cluster.brokers.join(','), KAFKA_GROUP_ID: 'long', HANDLER: SCRIPTED, HANDLER_TIMEOUT_MS: '0', ...FAST_GROUP })
  try {
    await svc.waitForLog((l) => l.msg === 'consumed' && l.offset === '9', 60_000, 'the last message')
    await sleep(1000)
    const offsets = svc.consumed().map((c) => Number(c.offset))
    assert.deepEqual(offsets, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'each once, in order (no duplicate, the long one included)')
    assert.equal(svc.logs.filter((l) => l.msg === 'sleeping').length, 1, 'the long handler ran once')
    // Removed from the group while the handler ran (no heartbeat for 9 s > 6 s session): it rejoined.
    assert.ok(svc.logs.filter((l) => l.msg === 'joined the consumer group').length >= 2, `rejoined\n${svc.tail(30)}`)
    assert.equal((await svc.get('/readyz')).status, 200)
    assert.equal((await svc.stop('SIGTERM')).code, 0)
  } finally {
    await svc.stop('SIGKILL')
    cluster.close()
  }
})

test('shutdown during a broker outage ends within SHUTDOWN_TIMEOUT_MS (+ margin)', { timeout: 60_000 }, async () => {
  const cluster = MockCluster.start({ brokers: 1, topics: { weather: 2 } })
  await produce(cluster.brokers, 'weather', sequence(20, 2))
  const svc = startService({ KAFKA_BROKERS: cluster.brokers.join(','), KAFKA_GROUP_ID: 'outage', SHUTDOWN_TIMEOUT_MS: '3000', ...FAST_GROUP })
  try {
    await svc.waitReady(40_000)
    assert.ok(await eventually(() => svc.consumed().length === 20, 20_000))
    cluster.brokerDown(1)
    await sleep(1000)
    const exit = await svc.stop('SIGTERM', 30_000)
    assert.ok(exit.code === 0 || exit.code === 1, `exit ${exit.code}`)
    assert.ok(exit.ms < 3000 + 4000, `ended in ${exit.ms} ms`)
    assert.equal(new Set(svc.consumed().map((c) => `${c.partition}|${c.offset}`)).size, 20)
  } finally {
    await svc.stop('SIGKILL')
    cluster.close()
  }
})

test('shutdown during a rebalance ends within SHUTDOWN_TIMEOUT_MS (+ margin)', { timeout: 90_000 }, async () => {
  const cluster = MockCluster.start({ brokers: 1, topics: { weather: 4 } })
  await produce(cluster.brokers, 'weather', sequence(40, 4))
  const env = { KAFKA_BROKERS: cluster.brokers.join(','), KAFKA_GROUP_ID: 'rebalance', SHUTDOWN_TIMEOUT_MS: '3000', ...FAST_GROUP }
  // Several members on the mock: the harness's preload works around its late-SyncGroup quirk.
  const args = mockServiceArgs()
  const a = startService(env, { args })
  const b = startService(env, { args })
  try {
    await a.waitReady(40_000)
    b.signal('SIGTERM') // B leaves while the group rebalances for it
    const second = startService(env, { args })
    await second.waitForLog((l) => l.msg === 'Starting' || l.msg === 'joined the consumer group', 20_000)
    await a.waitForLog((l) => l.msg === 'the group is rebalancing', 30_000)
    const exit = await a.stop('SIGTERM', 30_000)
    assert.ok(exit.ms < 3000 + 4000, `A ended in ${exit.ms} ms`)
    const exitB = await b.stop('SIGTERM', 30_000)
    assert.ok(exitB.code === 0 || exitB.code === 1)
    await second.stop('SIGTERM', 30_000)
    const seen = [...a.consumed(), ...b.consumed(), ...second.consumed()].map((c) => `${c.partition}|${c.offset}`)
    assert.equal(seen.length, new Set(seen).size, 'no duplicate')
  } finally {
    await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')])
    cluster.close()
  }
})
