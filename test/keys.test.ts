/** ORDERING=key and the MAX_IN_FLIGHT cap on the mock broker (the cases: test/support/key-order-cases.ts). */
import { after, before, describe } from 'node:test'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { keyOrderCases } from './support/key-order-cases.ts'

describe('key order (mock broker)', () => {
  let cluster: MockCluster
  let n = 0
  before(() => {
    cluster = MockCluster.start({ brokers: 1 })
  })
  after(() => cluster.close())
  keyOrderCases(
    {
      bootstrap: () => cluster.bootstrapServers.split(','),
      createTopic: async (topic, partitions) => cluster.createTopic(topic, partitions),
    },
    (prefix) => `${prefix}-${n++}`,
  )
})
