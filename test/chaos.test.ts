/**
 * The short chaos case on the mock cluster (scripts/chaos.ts, docs/chaos.md): real service
 * processes in one group on a three-broker mock cluster, scale 1 -> 3 -> 1, SIGKILL + restart,
 * SIGTERM, request errors (OffsetCommit, Fetch, Heartbeat, JoinGroup, SyncGroup) and RTT, in
 * strict sync mode. Never a duplicate; loss within the SIGKILL bound. Several members share the
 * group, so the services run with the mock's preload (harness/brokers/mock-quirks.mjs).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openBroker } from '../scripts/chaos/cluster.ts'
import { runChaos } from '../scripts/chaos/scenario.ts'

for (const window of [1, 20]) {
  test(`chaos (short, mock cluster), sync COMMIT_WINDOW=${window}: no duplicate, loss within the bound`, { timeout: 150_000 }, async () => {
    const lines: string[] = []
    const broker = await openBroker('mock')
    const r = await runChaos(broker, {
      mode: 'sync',
      window,
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
    assert.equal(r.verdict, 'PASS', summary)
  })
}
