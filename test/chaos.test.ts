/**
 * The short chaos case on the mock cluster (scripts/chaos.ts, docs/chaos.md): real service
 * processes in one group on a three-broker mock cluster, scale 1 -> 3 -> 1, SIGKILL + restart,
 * SIGTERM, request errors (OffsetCommit, Fetch, Heartbeat, JoinGroup, SyncGroup) and RTT, in
 * strict sync mode, and with ORDERING=key (per-key order and exclusivity checked over every
 * instance: harness/chaos/key-order.ts). Never a duplicate; loss within the SIGKILL bound. Several members share the
 * group, so the services run with the mock's preload (harness/brokers/mock-quirks.mjs). The runs
 * are the cases of test/support/chaos-cases.ts, which Apache Kafka runs too (kafka/chaos.test.ts).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { keyOrder } from '../harness/chaos/key-order.ts'
import { chaosCases } from './support/chaos-cases.ts'

test('the chaos key-order check finds a reordering and two calls of one key at once', () => {
  const call = (offset: number, key: string, startedAt: number, time: number) => ({ partition: 0, offset: String(offset), key, startedAt, time })
  assert.deepEqual(keyOrder([call(1, 'a', 0, 10), call(2, 'a', 10, 20), call(3, 'b', 5, 15)]), { keys: 2, outOfOrder: 0, overlaps: 0, unchecked: 0 })
  assert.equal(keyOrder([call(2, 'a', 0, 10), call(1, 'a', 10, 20)]).outOfOrder, 1)
  assert.equal(keyOrder([call(1, 'a', 0, 10), call(2, 'a', 9, 20)]).overlaps, 1)
  assert.equal(keyOrder([call(1, 'a', 0, 10), { partition: 0, offset: '2' }]).unchecked, 1)
})

// The short chaos runs: the cases shared with Apache Kafka (test/support/chaos-cases.ts).
chaosCases('mock')
