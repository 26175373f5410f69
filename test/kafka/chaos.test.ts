/**
 * The short chaos case on a real three-node Apache Kafka KRaft cluster (KAFKA_VERSION picks the
 * version; scripts/chaos.ts and docs/chaos.md hold the full suite): service processes in one
 * group, scale 1 -> 3 -> 1, SIGKILL + restart of an instance, SIGKILL of the node that is the
 * group coordinator and its restart, SIGTERM, in strict sync mode (COMMIT_WINDOW=1). Never a
 * duplicate; loss within the bound: COMMIT_WINDOW per partition the killed instance owned, plus
 * COMMIT_WINDOW per partition for the coordinator's death (a commit written by the dying node
 * whose answer never came: harness/chaos/tally.ts). No test-broker workaround.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openBroker } from '../../harness/chaos/cluster.ts'
import { runChaos } from '../../harness/chaos/scenario.ts'

test('chaos (short, 3-node Apache Kafka), sync: coordinator SIGKILL, instance SIGKILL, scale 1 -> 3 -> 1: no duplicate, loss within the bound and counted', { timeout: 300_000 }, async () => {
  const lines: string[] = []
  const broker = await openBroker('kafka', { log: () => undefined })
  try {
    const r = await runChaos(broker, {
      mode: 'sync',
      window: 1,
      durationMs: 25_000,
      rate: 150,
      kafkaFaults: { coordinatorKill: true, freeze: false, elect: false },
      log: (l: string) => lines.push(l),
    })
    const summary = `${broker.description}\n${JSON.stringify({ ...r, faults: undefined })}\n${lines.join('\n')}`
    console.log(`loss ledger: measured ${r.measuredLoss} (SIGKILL ${r.killLoss}), counted ${r.counted}, in doubt ${r.inDoubt}; lost ids ${r.lost}, bound ${r.bound}`)
    assert.ok(r.faults.some((f) => /^SIGKILL broker \d+, the group coordinator/.test(f)), `the coordinator's node was killed\n${summary}`)
    assert.ok(r.faults.some((f) => /^broker \d+ restarted/.test(f)), `the coordinator's node came back\n${summary}`)
    assert.equal(r.coordinatorFaults, 1, summary)
    assert.equal(r.kills.length, 1, summary)
    assert.ok(r.kills[0]!.partitions.length > 0, `the killed instance owned partitions\n${summary}`)
    assert.ok(r.produced > 1000, summary)
    assert.ok(r.drained, `the remaining instance drained the topic\n${summary}`)
    assert.equal(r.duplicates, 0, `sync mode must never process a message twice\n${summary}`)
    assert.ok(r.lost <= r.bound, `lost ${r.lost} > bound ${r.bound}\n${summary}`)
    // The loss ledger: what the instances that were not SIGKILLed counted lost (commits written by
    // the dying coordinator, resolved by commit-doubt.ts) is what the log shows they lost; what
    // stayed in doubt bounds the rest.
    assert.ok(r.counted <= r.measuredLoss, `counted ${r.counted} > measured loss ${r.measuredLoss}\n${summary}`)
    assert.ok(r.measuredLoss <= r.counted + r.inDoubt, `measured loss ${r.measuredLoss} > counted ${r.counted} + in doubt ${r.inDoubt}: a loss nobody counted\n${summary}`)
    assert.equal(r.verdict, 'PASS', summary)
  } finally {
    await broker.close()
  }
})

test('chaos (short, 3-node Apache Kafka), sync ORDERING=key COMMIT_WINDOW=20, 20 ms handler: instance SIGKILL while at risk, coordinator SIGKILL, rebalances: no duplicate, per-key order kept, loss within the bound', { timeout: 300_000 }, async () => {
  const lines: string[] = []
  const broker = await openBroker('kafka', { log: () => undefined })
  try {
    const r = await runChaos(broker, {
      mode: 'sync',
      window: 20,
      ordering: 'key',
      handlerMs: 20,
      killAtRisk: true,
      durationMs: 25_000,
      rate: 150,
      kafkaFaults: { coordinatorKill: true, freeze: false, elect: false },
      log: (l: string) => lines.push(l),
    })
    const summary = `${broker.description}\n${JSON.stringify({ ...r, faults: undefined })}\n${lines.join('\n')}`
    assert.equal(r.coordinatorFaults, 1, summary)
    assert.equal(r.kills.length, 1, summary)
    assert.ok(r.produced > 1000, summary)
    assert.ok(r.drained, `the remaining instance drained the topic\n${summary}`)
    assert.equal(r.duplicates, 0, `never a message twice\n${summary}`)
    assert.ok(r.lost <= r.bound, `lost ${r.lost} > bound ${r.bound}\n${summary}`)
    assert.ok(r.keyOrder && r.keyOrder.keys > 50, `the calls carried their keys\n${summary}`)
    assert.deepEqual({ ...r.keyOrder, keys: 0 }, { keys: 0, outOfOrder: 0, overlaps: 0, unchecked: 0 }, summary)
    assert.equal(r.verdict, 'PASS', summary)
  } finally {
    await broker.close()
  }
})
