/**
 * Apache Kafka (one KRaft node): kafkajs and this broker speak a common version of every API
 * kafkajs implements. kafkajs sends min(its highest version, the broker's highest) and ignores
 * the broker's lowest; Kafka 4 raised the lowest versions it accepts (KIP-896), so this is
 * checked against what the broker says (ApiVersions), not assumed.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { kafkajsCompatibility } from '../../harness/kafka-tools.ts'
import { startKafka } from './support.ts'

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: protocol versions`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 1 })
  })
  after(() => kafka?.stop())

  it('every API kafkajs implements is served at the version kafkajs sends', async () => {
    const rows = await kafkajsCompatibility(kafka.bootstrap[0]!)
    assert.ok(rows.length >= 30, `kafkajs's request table was read (${rows.length} APIs)`)
    const table = rows.map((r) => `${r.api}(${r.key}) broker ${r.brokerMin ?? '-'}..${r.brokerMax ?? '-'} kafkajs <= ${r.kafkajsMax} sends ${r.used ?? '-'}`).join('\n')
    assert.deepEqual(rows.filter((r) => !r.ok).map((r) => r.api), [], `APIs this broker would refuse from kafkajs:\n${table}`)
    // The ones the service itself uses, by name: consuming, committing, group membership, metadata, the
    // dead-letter producer (idempotent: InitProducerId), the loss ledger's reads (DescribeGroups).
    for (const api of ['Fetch', 'ListOffsets', 'Metadata', 'OffsetCommit', 'OffsetFetch', 'GroupCoordinator', 'JoinGroup', 'SyncGroup', 'Heartbeat', 'LeaveGroup', 'SaslHandshake', 'SaslAuthenticate', 'Produce', 'InitProducerId', 'DescribeGroups']) {
      assert.ok(rows.find((r) => r.api === api)?.ok, `${api}\n${table}`)
    }
  })
})
