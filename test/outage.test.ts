/** The downstream down under load, on the mock broker (the cases: test/support/outage-cases.ts). */
import { after, before, describe } from 'node:test'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { outageCases } from './support/outage-cases.ts'

describe('downstream outage (mock broker)', () => {
  let cluster: MockCluster
  before(() => {
    cluster = MockCluster.start({ brokers: 1 })
  })
  after(() => cluster.close())
  outageCases({ kind: 'mock', bootstrap: () => cluster.brokers, createTopic: async (topic, partitions) => cluster.createTopic(topic, partitions) })
})
