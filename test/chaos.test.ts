/**
 * The short chaos case (scripts/chaos.ts): real service processes in one group on a three-broker
 * mock cluster, SIGKILL + restart, SIGTERM, scale 1 -> 3 -> 1, request errors and RTT, in strict
 * sync mode with COMMIT_WINDOW 1 and 20. Never a duplicate; loss within the SIGKILL bound.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runChaos } from '../scripts/chaos.ts'

for (const window of [1, 20]) {
  test(`chaos (short), sync COMMIT_WINDOW=${window}: no duplicate, loss within the bound`, { timeout: 150_000 }, async () => {
    const lines: string[] = []
    const r = await runChaos({ mode: 'sync', window, durationMs: 14_000, rate: 100, brokerFaults: window === 1, log: (l) => lines.push(l) })
    const summary = `${JSON.stringify({ ...r, faults: undefined })}\n${lines.join('\n')}`
    assert.equal(r.sigkills, 1, summary)
    assert.ok(r.killedPartitions > 0, `the killed instance owned partitions\n${summary}`)
    assert.ok(r.rebalances >= 3, `rebalances happened\n${summary}`)
    assert.ok(r.produced > 500, summary)
    assert.equal(r.duplicates, 0, `sync mode must never process a message twice\n${summary}`)
    assert.ok(r.lost <= r.bound, `lost ${r.lost} > bound ${r.bound}\n${summary}`)
    assert.equal(r.verdict, 'PASS', summary)
  })
}
