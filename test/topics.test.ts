/**
 * src/consumer/topics.ts: inspectTopics against librdkafka's mock cluster over TCP, through a real
 * kafkajs client: the partitions of the subscribed topics counted together, a missing topic named
 * in a TopicMissingError (code AMO_TOPIC_MISSING), and nothing created by asking (the mock, unlike
 * a real cluster, creates a topic that a Metadata request names: only a check that never names a
 * missing topic leaves it absent).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Kafka, logLevel } from 'kafkajs'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { inspectTopics } from '../src/consumer/topics.ts'
import { ErrorCode, TopicMissingError } from '../src/errors.ts'

describe('inspectTopics (src/consumer/topics.ts) on the mock cluster', () => {
  let cluster: MockCluster
  let kafka: Kafka
  before(() => {
    cluster = MockCluster.start({ brokers: 3, topics: { orders: 6, payments: 2, audit: 1 } })
    kafka = new Kafka({ clientId: 'topics-test', brokers: cluster.brokers, logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 100 } })
  })
  after(() => cluster?.close())

  const topicNames = async () => {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort()
    } finally {
      await admin.disconnect()
    }
  }

  it('counts the partitions of every subscribed topic together', async () => {
    assert.deepEqual(await inspectTopics(kafka, ['orders']), { partitions: 6 })
    assert.deepEqual(await inspectTopics(kafka, ['orders', 'payments', 'audit']), { partitions: 9 })
    assert.deepEqual(await inspectTopics(kafka, ['payments', 'audit']), { partitions: 3 })
  })

  it('names the missing topics in a TopicMissingError, and creates none of them', async () => {
    const before = await topicNames()
    const err = await inspectTopics(kafka, ['orders', 'refunds', 'payments', 'chargebacks']).then(
      () => assert.fail('inspectTopics resolved for missing topics'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof TopicMissingError, `a TopicMissingError, got ${String(err)}`)
    assert.equal(err.code, ErrorCode.TOPIC_MISSING)
    assert.deepEqual(err.topics, ['refunds', 'chargebacks'])
    assert.match(err.message, /topics not found: refunds, chargebacks/)
    assert.deepEqual(await topicNames(), before, 'no topic was created by the check')
    assert.ok(!before.includes('refunds'))
  })

  it('a single missing topic', async () => {
    const err = await inspectTopics(kafka, ['weather']).catch((e: unknown) => e)
    assert.ok(err instanceof TopicMissingError)
    assert.deepEqual(err.topics, ['weather'])
    assert.equal(err.message, 'topic not found: weather')
    assert.ok(!(await topicNames()).includes('weather'), 'not created')
  })
})
