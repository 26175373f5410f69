/**
 * A subscribed topic that does not exist, defined once and run against every broker (the mock:
 * edges.test.ts; Apache Kafka: kafka/edges.test.ts): alive, not ready, one warn line per attempt
 * naming it and only it, nothing at error level; the broker does not create it meanwhile; ready
 * and consuming once it exists; exit 0 named by the last line.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { client, eventually } from '../../harness/kafka-tools.ts'
import { startService, type ServiceProcess } from '../../harness/service-process.ts'
import { consumedSeqs, produceExactly, range, type CaseBroker } from './case-broker.ts'

/** The last line names the exit code, and no line claims another one. */
export function assertExitLogged(svc: ServiceProcess, code: number): void {
  const claims = svc.logs.filter((l) => /exit [01]\b/.test(l.msg))
  assert.ok(claims.length > 0, `a line names the exit code\n${svc.tail()}`)
  for (const l of claims) assert.match(l.msg, new RegExp(`exit ${code}\\b`), `a line claims another exit code than ${code}\n${svc.tail()}`)
  assert.match(svc.logs.at(-1)!.msg, new RegExp(`exit ${code}\\b`), `the last line names exit ${code}\n${svc.tail()}`)
}

export function missingTopicCase(broker: CaseBroker, name: (prefix: string) => string): void {
  it('a subscribed topic that does not exist: alive, not ready, one warn line per attempt naming it; ready and consuming once it exists', { timeout: 120_000 }, async () => {
    // The mock cluster auto-creates a topic named in a Metadata request; the service names no
    // missing topic to the broker (it lists the topics first), so the topic stays missing there
    // too. Apache Kafka runs with auto-creation off.
    const present = name('present')
    const absent = name('absent')
    await broker.createTopic(present, 1)
    const svc = startService(
      { KAFKA_BROKERS: broker.bootstrap().join(','), KAFKA_TOPICS: `${present},${absent}`, KAFKA_GROUP_ID: `g-${absent}` },
      { args: broker.serviceArgs ?? [] },
    )
    try {
      const third = await svc.waitForLog((l) => l.code === 'AMO_TOPIC_MISSING' && l.attempt === 3, 30_000, 'the third missing-topic line')
      assert.equal(third.level, 40, 'warn')
      assert.equal((await svc.get('/healthz')).status, 200, 'alive')
      assert.equal((await svc.get('/readyz')).status, 503, 'not ready')
      assert.equal(await svc.metric('consumer_ready'), 0)
      // Every warn line that names the topic is a missing-topic attempt, one line per attempt
      // (1, 2, 3, ...), each announcing a real delay, naming the missing topic and only it.
      const warns = svc.logs.filter((l) => l.level === 40 && JSON.stringify(l).includes(absent))
      const dump = warns.map((l) => JSON.stringify(l)).join('\n')
      assert.ok(warns.length >= 3, dump)
      for (const l of warns) {
        assert.equal(l.code, 'AMO_TOPIC_MISSING', `every warn line naming the topic is a missing-topic attempt:\n${dump}`)
        assert.ok(l.msg.includes(absent), `the message itself names the topic:\n${dump}`)
        assert.deepEqual(l.topics, [absent], 'names the missing topic, only it')
        assert.ok(Number(l.retryInMs) > 0, dump)
      }
      assert.deepEqual(warns.map((l) => l.attempt), range(warns.length, 1), dump)
      assert.deepEqual(svc.logs.filter((l) => l.level >= 50), [], 'nothing logged at error level for a missing topic')
      const admin = client(broker.bootstrap()).admin()
      await admin.connect()
      try {
        assert.ok(!(await admin.listTopics()).includes(absent), 'the broker did not create it meanwhile')
      } finally {
        await admin.disconnect()
      }
      await broker.createTopic(absent, 2)
      await produceExactly(broker.bootstrap(), absent, 20, 2)
      await svc.waitReady(60_000)
      assert.ok(await eventually(() => svc.consumed().filter((c) => c.topic === absent).length >= 20, 30_000), `consumed ${svc.consumed().length}/20\n${svc.tail()}`)
    } finally {
      assert.equal((await svc.stop('SIGTERM')).code, 0, svc.tail())
    }
    assertExitLogged(svc, 0)
    assert.deepEqual(consumedSeqs(svc), range(20))
  })
}
