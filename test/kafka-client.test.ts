/** src/consumer/kafka-client.ts: which level kafkajs's own log lines get. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { logLevel } from 'kafkajs'
import { kafkajsLevel } from '../src/consumer/kafka-client.ts'

describe('kafkajs log levels', () => {
  it('kafkajs connection-retry chatter goes to debug, retried protocol errors to warn, the rest keeps its level', () => {
    assert.equal(kafkajsLevel('Connection', logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:9092'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Connection', logLevel.ERROR, 'Connection timeout'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('BrokerPool', logLevel.ERROR, 'Failed to connect to seed broker, trying another broker from the list: x'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Consumer', logLevel.ERROR, 'Crash: KafkaJSNumberOfRetriesExceeded: x'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Consumer', logLevel.ERROR, 'Restarting the consumer in 300ms'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Connection', logLevel.ERROR, 'Response OffsetCommit(key: 8, version: 5)'), logLevel.WARN)
    assert.equal(kafkajsLevel('BrokerPool', logLevel.ERROR, 'SASL SCRAM SHA512 authentication failed'), logLevel.ERROR)
    assert.equal(kafkajsLevel('Runner', logLevel.ERROR, 'Error when calling eachBatch'), logLevel.ERROR)
    assert.equal(kafkajsLevel('Connection', logLevel.INFO, 'anything'), logLevel.INFO)
  })
  it("the dead-letter producer's retries and failed sends are its own to report: kafkajs's lines go to debug", () => {
    assert.equal(kafkajsLevel('Producer', logLevel.WARN, 'Limiting retries for the idempotent producer to Number.MAX_SAFE_INTEGER'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Producer', logLevel.ERROR, 'Failed to send messages: There is no leader for this topic-partition'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Producer', logLevel.WARN, 'something else'), logLevel.WARN)
    assert.equal(kafkajsLevel('Producer', logLevel.ERROR, 'something else'), logLevel.ERROR)
  })
})
