/**
 * The short chaos runs (harness/chaos/, docs/chaos.md), defined once and run against every broker:
 * the mock's three-broker cluster in the fast tier (chaos.test.ts: request errors, RTT, a broker
 * outage) and a three-node Apache Kafka in the integration tier (kafka/chaos.test.ts: the group
 * coordinator's node SIGKILLed and restarted). Real service processes in one group, scale
 * 1 -> 3 -> 1, an instance SIGKILLed and restarted, SIGTERM, strict sync mode. Never a duplicate;
 * loss within the bound; the topic drained; with ORDERING=key, per-key order and exclusivity over
 * every instance. The checks that hold on one broker only name it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openBroker, type BrokerKind } from '../../harness/chaos/cluster.ts'
import type { ChaosOptions } from '../../harness/chaos/run-context.ts'
import { runChaos } from '../../harness/chaos/scenario.ts'

interface Run {
  window: number
  ordering: 'partition' | 'key'
  /** Only on the mock (the loss run without keys; Apache Kafka runs the keyed one). */
  mockOnly?: boolean
}

const RUNS: Run[] = [
  { window: 1, ordering: 'partition' },
  // Window 20 kills while messages are at risk (slow handler): the bound is exercised.
  { window: 20, ordering: 'partition', mockOnly: true },
  { window: 20, ordering: 'key' },
]

/** What each broker's run streams and which faults it adds. */
function brokerOptions(kind: BrokerKind, run: Run): Pick<ChaosOptions, 'durationMs' | 'rate' | 'brokerFaults' | 'kafkaFaults'> {
  return kind === 'mock'
    ? { durationMs: 14_000, rate: 100, brokerFaults: run.window === 1 }
    : { durationMs: 25_000, rate: 150, kafkaFaults: { coordinatorKill: true, freeze: false, elect: false } }
}

export function chaosCases(kind: BrokerKind): void {
  const where = kind === 'mock' ? 'mock cluster' : '3-node Apache Kafka'
  for (const run of RUNS) {
    if (run.mockOnly && kind !== 'mock') continue
    const { window, ordering } = run
    const key = ordering === 'key'
    test(
      `chaos (short, ${where}), sync COMMIT_WINDOW=${window} ORDERING=${ordering}: no duplicate, loss within the bound${key ? ', per-key order kept' : ''}`,
      { timeout: kind === 'mock' ? 150_000 : 300_000 },
      async () => {
        const lines: string[] = []
        const broker = await openBroker(kind, { log: () => undefined })
        try {
          const r = await runChaos(broker, {
            mode: 'sync',
            window,
            ordering,
            ...brokerOptions(kind, run),
            ...(window > 1 ? { handlerMs: 20, killAtRisk: true } : {}),
            log: (l: string) => lines.push(l),
          })
          const summary = `${broker.description}\n${JSON.stringify({ ...r, faults: undefined })}\n${lines.join('\n')}`
          assert.equal(r.kills.length, 1, summary)
          if (kind === 'mock' || window === 1) assert.ok(r.kills[0]!.partitions.length > 0, `the killed instance owned partitions\n${summary}`)
          assert.ok(r.drained, `the remaining instance drained the topic\n${summary}`)
          assert.equal(r.duplicates, 0, `sync mode must never process a message twice\n${summary}`)
          assert.ok(r.lost <= r.bound, `lost ${r.lost} > bound ${r.bound}\n${summary}`)
          if (key) {
            assert.ok(r.keyOrder && r.keyOrder.keys > 50, `the calls carried their keys\n${summary}`)
            assert.deepEqual({ ...r.keyOrder, keys: 0 }, { keys: 0, outOfOrder: 0, overlaps: 0, unchecked: 0 }, summary)
          }
          if (kind === 'mock') {
            assert.ok(r.joins >= 4, `the group rebalanced (scale-out, kill, restart)\n${summary}`)
            assert.ok(!lines.some((l) => /crashed for good/.test(l)), `no instance crashed for good (the mock's SyncGroup quirk)\n${summary}`)
            assert.ok(r.produced > 500, summary)
          } else {
            assert.equal(r.coordinatorFaults, 1, summary)
            assert.ok(r.produced > 1000, summary)
            if (window === 1) {
              console.log(`loss ledger: measured ${r.measuredLoss} (SIGKILL ${r.killLoss}), counted ${r.counted}, in doubt ${r.inDoubt}; lost ids ${r.lost}, bound ${r.bound}`)
              assert.ok(r.faults.some((f) => /^SIGKILL broker \d+, the group coordinator/.test(f)), `the coordinator's node was killed\n${summary}`)
              assert.ok(r.faults.some((f) => /^broker \d+ restarted/.test(f)), `the coordinator's node came back\n${summary}`)
              // The loss ledger: what the instances that were not SIGKILLed counted lost (commits
              // written by the dying coordinator, resolved by commit-doubt.ts) is what the log shows
              // they lost; what stayed in doubt bounds the rest.
              assert.ok(r.counted <= r.measuredLoss, `counted ${r.counted} > measured loss ${r.measuredLoss}\n${summary}`)
              assert.ok(r.measuredLoss <= r.counted + r.inDoubt, `measured loss ${r.measuredLoss} > counted ${r.counted} + in doubt ${r.inDoubt}: a loss nobody counted\n${summary}`)
            }
          }
          assert.equal(r.verdict, 'PASS', summary)
        } finally {
          await broker.close()
        }
      },
    )
  }
}
