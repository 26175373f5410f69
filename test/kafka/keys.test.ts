/** Apache Kafka (one KRaft node): ORDERING=key and the MAX_IN_FLIGHT cap (the cases: test/support/key-order-cases.ts). */
import { after, before, describe } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { keyOrderCases } from '../support/key-order-cases.ts'
import { startKafka, uniq } from './support.ts'

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: key order`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 1 })
  })
  after(() => kafka?.stop())
  keyOrderCases({ bootstrap: () => kafka.bootstrap, createTopic: (topic, partitions) => kafka.createTopic(topic, partitions) }, uniq)
})
