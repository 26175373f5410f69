/**
 * Apache Kafka (one KRaft node): the circuit breaker and the rate limit as the running service
 * shows them (the cases: test/support/breaker-cases.ts; the mock runs them in breaker-process.test.ts).
 */
import { after, before, describe } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { breakerCases } from '../support/breaker-cases.ts'
import { startKafka, uniq } from './support.ts'

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: circuit breaker and rate limit`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 1 })
  })
  after(() => kafka?.stop())
  breakerCases({ kind: 'kafka', bootstrap: () => kafka.bootstrap, createTopic: (topic, partitions) => kafka.createTopic(topic, partitions) }, uniq)
})
