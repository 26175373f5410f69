/**
 * Apache Kafka (one KRaft node): strict at-most-once with COMMIT_WINDOW 1 and 8 (the cases:
 * test/support/strict-sync-cases.ts; the mock runs them in strict-sync.test.ts).
 */
import { after, before, describe } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { strictSyncCases } from '../support/strict-sync-cases.ts'
import { startKafka, uniq } from './support.ts'

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: strict sync mode`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 1 })
  })
  after(() => kafka?.stop())
  strictSyncCases({ kind: 'kafka', bootstrap: () => kafka.bootstrap, createTopic: (topic, partitions) => kafka.createTopic(topic, partitions) }, uniq)
})
