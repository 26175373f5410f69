/**
 * Apache Kafka (one KRaft node): the handler's downstream (a real HTTP server, a real PostgreSQL)
 * down for 20 s under load (the cases: test/support/outage-cases.ts; the mock runs them in
 * outage.test.ts).
 */
import { after, before, describe } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { outageCases } from '../support/outage-cases.ts'
import { startKafka } from './support.ts'

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: downstream outage`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 1 })
  })
  after(() => kafka?.stop())
  outageCases({ kind: 'kafka', bootstrap: () => kafka.bootstrap, createTopic: (topic, partitions) => kafka.createTopic(topic, partitions) })
})
