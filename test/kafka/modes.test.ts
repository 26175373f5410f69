/**
 * Apache Kafka (one KRaft node): each commit mode end to end, and SIGTERM with a message in the
 * handler (the cases: test/support/modes-cases.ts; the mock runs them in modes.test.ts and
 * lifecycle.test.ts).
 */
import { after, before, describe } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { modeCases, sigtermCase } from '../support/modes-cases.ts'
import type { CaseBroker } from '../support/case-broker.ts'
import { startKafka, uniq } from './support.ts'

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: commit modes`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 1 })
  })
  after(() => kafka?.stop())
  const broker: CaseBroker = { kind: 'kafka', bootstrap: () => kafka.bootstrap, createTopic: (topic, partitions) => kafka.createTopic(topic, partitions) }
  modeCases(broker, uniq)
  sigtermCase(broker, uniq)
})
