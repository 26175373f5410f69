/** Each commit mode on the mock broker (the cases: test/support/modes-cases.ts). */
import { after, before, describe } from 'node:test'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { modeCases } from './support/modes-cases.ts'

describe('commit modes (mock broker)', () => {
  let cluster: MockCluster
  let n = 0
  before(() => {
    cluster = MockCluster.start({ brokers: 1 })
  })
  after(() => cluster.close())
  modeCases({ kind: 'mock', bootstrap: () => cluster.brokers, createTopic: async (topic, partitions) => cluster.createTopic(topic, partitions) }, (prefix) => `${prefix}-${n++}`)
})
