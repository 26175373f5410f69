/** The app factory in-process, through fastify's inject (no listening socket). */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { buildApp } from '../src/app.ts'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { eventually } from '../harness/kafka-tools.ts'

const quiet = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }))

describe('app (inject)', () => {
  let cluster: MockCluster
  before(() => {
    cluster = MockCluster.start({ brokers: 1, topics: { inject: 1 } })
  })
  after(() => cluster.close())

  it('serves health, readiness and metrics, and 404 elsewhere', async () => {
    const app = await buildApp({ logger: quiet, env: { KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'inject', KAFKA_GROUP_ID: 'g-inject', SHUTDOWN_TIMEOUT_MS: '3000' } })
    try {
      await app.ready()
      assert.equal(app.config.commitMode, 'sync')
      assert.equal((await app.inject('/readyz')).statusCode, 503)
      assert.equal((await app.inject('/healthz')).statusCode, 200)
      assert.ok(await eventually(async () => (await app.inject('/readyz')).statusCode === 200, 20_000), 'ready after the join')
      const m = await app.inject('/metrics')
      assert.equal(m.statusCode, 200)
      assert.match(m.headers['content-type'] as string, /text\/plain/)
      assert.match(m.body, /consumer_ready 1/)
      assert.equal((await app.inject('/')).statusCode, 404)
      assert.equal((await app.inject({ method: 'POST', url: '/readyz' })).statusCode, 404)
    } finally {
      await app.close()
    }
    assert.equal(app.consumer.state, 'stopped')
  })

  it('rejects bad configuration with a ConfigError naming the variable', async () => {
    await assert.rejects(
      async () => {
        const app = await buildApp({ logger: quiet, env: { KAFKA_BROKERS: 'a:1', COMMIT_WINDOW: '0' } })
        await app.ready()
      },
      (e: unknown) => (e as { code?: string }).code === 'AMO_CONFIG_INVALID' && (e as { variable?: string }).variable === 'COMMIT_WINDOW',
    )
  })
})
