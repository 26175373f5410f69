/**
 * The circuit breaker as an operator meets it, defined once and run against every broker (the mock
 * in the fast tier: breaker.test.ts is its unit file, this is breaker-process.test.ts; Apache Kafka
 * in the integration tier): alive and ready while open; SIGTERM while open exits at once, counting
 * the held messages lost (exit 1) or, with none held, exit 0; a rebalance while messages are held
 * counts them lost as revoked; MAX_CALLS_PER_SECOND never lets more calls start than it allows.
 * The downstream is a real HTTP server (harness/downstream/), killed before the service starts.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { HttpDownstream } from '../../harness/downstream/index.ts'
import { eventually, produce, sequence, sleep } from '../../harness/kafka-tools.ts'
import { startService, type ServiceProcess } from '../../harness/service-process.ts'
import type { CaseBroker } from './case-broker.ts'

const WEBHOOK = 'examples/webhook/handler.mjs'

const openLine = (svc: ServiceProcess) => svc.logs.find((l) => /^circuit breaker open/.test(l.msg))

/**
 * consumer_messages_at_risk once it holds still (the same over 300 ms): a window sent just before
 * the breaker opened is still acknowledged, and what it covers is held too.
 */
async function settledAtRisk(svc: ServiceProcess): Promise<number> {
  let last = await svc.metric('consumer_messages_at_risk')
  for (const end = Date.now() + 5000; Date.now() < end; ) {
    await sleep(300)
    const now = await svc.metric('consumer_messages_at_risk')
    if (now === last) return now
    last = now
  }
  throw new Error(`consumer_messages_at_risk did not settle in 5 s (last ${last})`)
}

export function breakerCases(broker: CaseBroker, name: (prefix: string) => string): void {
  const start = (topic: string, down: HttpDownstream, env: Record<string, string>) =>
    startService(
      { KAFKA_BROKERS: broker.bootstrap().join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`, HANDLER: WEBHOOK, WEBHOOK_URL: down.hookUrl, WEBHOOK_PROBE_URL: down.healthUrl, ...env },
      { args: broker.serviceArgs ?? [] },
    )

  it('open: alive and ready (the bodies name the breaker), messages held at risk; SIGTERM exits at once, the held ones counted lost (shutdown), exit 1', async () => {
    const topic = name('breaker-sigterm')
    await broker.createTopic(topic, 1)
    await produce(broker.bootstrap(), topic, sequence(30, 1))
    const down = await HttpDownstream.start()
    await down.kill()
    const svc = start(topic, down, { COMMIT_WINDOW: '10', SHUTDOWN_TIMEOUT_MS: '20000' })
    try {
      await svc.waitForLog((l) => /^circuit breaker open/.test(l.msg), 60_000, 'the breaker opening')
      const held = Number(openLine(svc)!.held)
      assert.ok(held > 0 && held <= 10, `held ${held}: committed, not started, at most COMMIT_WINDOW`)
      // The gauge never shows less than the line said, nor more than the window.
      const atRisk = await settledAtRisk(svc)
      assert.ok(atRisk >= held && atRisk <= 10, `the held messages are at risk (line: ${held}, gauge: ${atRisk}), within COMMIT_WINDOW`)
      assert.equal(await svc.metric('consumer_breaker_state', { state: 'open' }), 1)
      assert.equal(await svc.metric('consumer_messages_lost_total', { reason: 'handler_failed' }), 5, 'the threshold: 5 failed before it opened')
      const health = await svc.get('/healthz')
      const ready = await svc.get('/readyz')
      assert.equal(health.status, 200, 'alive: a restart does not heal a downstream')
      assert.equal(ready.status, 200, 'ready: the pod is a working member of its group')
      assert.equal(JSON.parse(health.body).breaker, 'open')
      assert.equal(JSON.parse(ready.body).breaker, 'open')
      // The backlog an outage builds shows in consumer_lag, although nothing is fetched meanwhile.
      const lag = await svc.metric('consumer_lag')
      await produce(broker.bootstrap(), topic, sequence(50, 1, 30))
      assert.ok(await eventually(async () => (await svc.metric('consumer_lag')) >= lag + 50, 15_000), `consumer_lag grows while paused (was ${lag}, now ${await svc.metric('consumer_lag')})`)
      const exit = await svc.stop('SIGTERM', 30_000)
      assert.equal(exit.code, 1, `committed messages left unprocessed: exit 1\n${svc.tail()}`)
      assert.ok(exit.ms < 10_000, `SIGTERM did not wait for SHUTDOWN_TIMEOUT_MS (20 s): ${exit.ms} ms`)
      const lines = svc.logs.filter((l) => l.lost === true && l.reason === 'shutdown')
      assert.equal(lines.length, 1, 'one line for the partition, not one per message')
      assert.equal(lines[0]!.count, atRisk, 'every held message counted lost, no more')
      assert.equal(Number(lines[0]!.toOffset) - Number(lines[0]!.fromOffset) + 1, atRisk)
      assert.equal(svc.logs.at(-1)!.msg, 'shutdown finished, not clean: exit 1')
      assert.equal(svc.logs.at(-1)!.code, 'AMO_SHUTDOWN_UNPROCESSED', 'not a timeout: held messages')
      assert.equal(down.deliveries().length, 0, 'nothing reached the downstream')
    } finally {
      await svc.stop('SIGKILL')
      await down.destroy()
    }
  })

  it('open with nothing held (COMMIT_WINDOW=1: no window is sent once it opened): SIGTERM exits 0', async () => {
    const topic = name('breaker-clean')
    await broker.createTopic(topic, 1)
    await produce(broker.bootstrap(), topic, sequence(20, 1))
    const down = await HttpDownstream.start()
    await down.kill()
    const svc = start(topic, down, {})
    try {
      await svc.waitForLog((l) => /^circuit breaker open/.test(l.msg), 60_000, 'the breaker opening')
      assert.equal(openLine(svc)!.held, 0)
      assert.equal(await svc.metric('consumer_messages_at_risk'), 0)
      const committed = await svc.metric('consumer_messages_committed_total')
      assert.equal(committed, 5, 'committed: the five that failed, nothing after')
      const exit = await svc.stop('SIGTERM', 30_000)
      assert.equal(exit.code, 0, svc.tail())
      assert.equal(svc.logs.at(-1)!.msg, 'shutdown complete: exit 0')
    } finally {
      await svc.stop('SIGKILL')
      await down.destroy()
    }
  })

  it('a rebalance while messages are held: they are counted lost (revoked), one line per partition', async () => {
    const topic = name('breaker-revoked')
    await broker.createTopic(topic, 2)
    await produce(broker.bootstrap(), topic, sequence(60, 2))
    const down = await HttpDownstream.start()
    await down.kill()
    const env = { COMMIT_WINDOW: '10', KAFKA_SESSION_TIMEOUT_MS: '10000' }
    const a = start(topic, down, env)
    let b: ServiceProcess | undefined
    try {
      await a.waitForLog((l) => /^circuit breaker open/.test(l.msg), 60_000, 'the breaker opening')
      const held = await settledAtRisk(a)
      assert.ok(held > 0 && held <= 20, `held ${held}: something, at most COMMIT_WINDOW per partition`)
      b = start(topic, down, env) // joins: the group rebalances
      await a.waitForLog((l) => l.lost === true && l.reason === 'revoked', 60_000, 'the held messages counted lost at the rejoin')
      assert.ok(await eventually(async () => (await a.metric('consumer_messages_lost_total', { reason: 'revoked' })) === held, 10_000), a.tail())
      const lines = a.logs.filter((l) => l.lost === true && l.reason === 'revoked')
      assert.equal(lines.reduce((n, l) => n + Number(l.count), 0), held)
      assert.ok(lines.length <= 2, 'one line per partition')
      assert.equal(await a.metric('consumer_messages_skipped_total', { reason: 'revoked' }), held)
    } finally {
      await Promise.all([a.stop('SIGKILL'), b?.stop('SIGKILL')])
      await down.destroy()
    }
  })

  it('MAX_CALLS_PER_SECOND: never more calls started than it allows in any second; the waits are counted', async (t) => {
    const topic = name('rate')
    await broker.createTopic(topic, 3)
    await produce(broker.bootstrap(), topic, sequence(300, 3))
    const rate = 50
    // The handler logs each call as it starts (its pino `time`); it then awaits 5 ms, as I/O would.
    const svc = startService(
      {
        KAFKA_BROKERS: broker.bootstrap().join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`, HANDLER: 'test/fixtures/key-order.mjs', KEY_HANDLER_MS: '5',
        MAX_CALLS_PER_SECOND: String(rate), ORDERING: 'unordered', COMMIT_WINDOW: '100',
      },
      { args: broker.serviceArgs ?? [] },
    )
    try {
      assert.ok(await eventually(() => svc.consumed().length >= 300, 60_000), `consumed ${svc.consumed().length}/300\n${svc.tail()}`)
      assert.ok((await svc.metric('consumer_handler_calls_delayed_total')) > 0, 'calls waited for the rate')
    } finally {
      assert.equal((await svc.stop('SIGTERM')).code, 0, svc.tail())
    }
    // A late timer only spaces calls further apart, never closer: the count in any one-second
    // window is a bound that a slow machine cannot break.
    const times = svc.consumed().map((c) => Number((c as unknown as { time: number }).time)).sort((x, y) => x - y)
    assert.equal(times.length, 300, 'each message once')
    let most = 0
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++
      most = Math.max(most, i - j + 1)
    }
    assert.ok(most <= rate + 2, `${most} calls started within one second (limit ${rate}/s)`)
    const seconds = (times.at(-1)! - times[0]!) / 1000
    t.diagnostic(`300 calls in ${seconds.toFixed(2)} s: ${(299 / seconds).toFixed(1)} calls/s (limit ${rate}/s); at most ${most} in any second`)
  })
}
