/** The circuit breaker and the rate limit as the running service shows them, on the mock broker (the cases: test/support/breaker-cases.ts; the state machine alone: breaker.test.ts). */
import { after, before, describe } from 'node:test'
import { MockCluster, mockServiceArgs } from '../harness/brokers/mock-cluster.ts'
import { breakerCases } from './support/breaker-cases.ts'

describe('circuit breaker and rate limit (mock broker, the service as a process)', () => {
  let cluster: MockCluster
  let n = 0
  before(() => {
    cluster = MockCluster.start({ brokers: 1 })
  })
  after(() => cluster.close())
  breakerCases(
    { kind: 'mock', bootstrap: () => cluster.brokers, createTopic: async (topic, partitions) => cluster.createTopic(topic, partitions), serviceArgs: mockServiceArgs() },
    (prefix) => `${prefix}-${n++}`,
  )
})
