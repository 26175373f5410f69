/**
 * The short chaos case on the mock cluster (scripts/chaos.ts, docs/chaos.md): real service
 * processes in one group on a three-broker mock cluster, scale 1 -> 3 -> 1, SIGKILL + restart,
 * SIGTERM, request errors (OffsetCommit, Fetch, Heartbeat, JoinGroup, SyncGroup) and RTT, in
 * strict sync mode, and with ORDERING=key (per-key order and exclusivity checked over every
 * instance: harness/chaos/key-order.ts). Never a duplicate; loss within the SIGKILL bound. Several members share the
 * group, so the services run with the mock's preload (harness/brokers/mock-quirks.mjs).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openBroker } from '../harness/chaos/cluster.ts'
import { keyOrder } from '../harness/chaos/key-order.ts'
import { runChaos } from '../harness/chaos/scenario.ts'

test('the chaos key-order check finds a reordering and two calls of one key at once', () => {
  const call = (offset: number, key: string, startedAt: number, time: number) => ({ partition: 0, offset: String(offset), key, startedAt, time })
  assert.deepEqual(keyOrder([call(1, 'a', 0, 10), call(2, 'a', 10, 20), call(3, 'b', 5, 15)]), { keys: 2, outOfOrder: 0, overlaps: 0, unchecked: 0 })
  assert.equal(keyOrder([call(2, 'a', 0, 10), call(1, 'a', 10, 20)]).outOfOrder, 1)
  assert.equal(keyOrder([call(1, 'a', 0, 10), call(2, 'a', 9, 20)]).overlaps, 1)
  assert.equal(keyOrder([call(1, 'a', 0, 10), { partition: 0, offset: '2' }]).unchecked, 1)
})

for (const [window, ordering] of [[1, 'partition'], [20, 'partition'], [20, 'key']] as const) {
  test(`chaos (short, mock cluster), sync COMMIT_WINDOW=${window} ORDERING=${ordering}: no duplicate, loss within the bound${ordering === 'key' ? ', per-key order kept' : ''}`, { timeout: 150_000 }, async () => {
    const lines: string[] = []
    const broker = await openBroker('mock')
    const r = await runChaos(broker, {
      mode: 'sync',
      window,
      ordering,
      durationMs: 14_000,
      rate: 100,
      brokerFaults: window === 1,
      // The window-20 case kills while messages are at risk (slow handler): the bound is exercised.
      ...(window > 1 ? { handlerMs: 20, killAtRisk: true } : {}),
      log: (l: string) => lines.push(l),
    })
    await broker.close()
    const summary = `${JSON.stringify({ ...r, faults: undefined })}\n${lines.join('\n')}`
    assert.equal(r.kills.length, 1, summary)
    assert.ok(r.kills[0]!.partitions.length > 0, `the killed instance owned partitions\n${summary}`)
    assert.ok(r.joins >= 4, `the group rebalanced (scale-out, kill, restart)\n${summary}`)
    assert.ok(!lines.some((l) => /crashed for good/.test(l)), `no instance crashed for good (the mock's SyncGroup quirk)\n${summary}`)
    assert.ok(r.produced > 500, summary)
    assert.ok(r.drained, `the remaining instance drained the topic\n${summary}`)
    assert.equal(r.duplicates, 0, `sync mode must never process a message twice\n${summary}`)
    assert.ok(r.lost <= r.bound, `lost ${r.lost} > bound ${r.bound}\n${summary}`)
    if (ordering === 'key') {
      assert.ok(r.keyOrder && r.keyOrder.keys > 50, `the calls carried their keys\n${summary}`)
      assert.deepEqual({ ...r.keyOrder, keys: 0 }, { keys: 0, outOfOrder: 0, overlaps: 0, unchecked: 0 }, summary)
    }
    assert.equal(r.verdict, 'PASS', summary)
  })
}
