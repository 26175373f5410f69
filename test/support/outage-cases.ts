/**
 * The handler's downstream down for 20 s under a steady load (200 msg/s, 6 partitions), defined
 * once and run against every broker (the mock in the fast tier, Apache Kafka in the integration
 * tier): the circuit breaker must keep what the downstream never received within the failure
 * threshold plus the calls in flight when it opened, count every one of them lost, hand nothing
 * over twice, and resume within one back-off step once the downstream is back. The run itself:
 * harness/chaos/outage.ts. The three cases run at once (their own topics, groups and servers).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runOutage, type OutageOptions, type OutageResult } from '../../harness/chaos/outage.ts'
import type { CaseBroker } from './case-broker.ts'

/** BREAKER_BACKOFF_MAX_MS's default: the longest wait between two probes. */
const BACKOFF_MAX_MS = 10_000

function check(r: OutageResult, bound: number): void {
  const why = `\n${JSON.stringify({ ...r, tail: undefined })}\n${r.tail}`
  assert.ok(r.drained, `the service caught up after the outage${why}`)
  assert.equal(r.exitCode, 0, `exit 0${why}`)
  assert.equal(r.duplicates, 0, `nothing handed to the downstream twice${why}`)
  assert.ok(r.opened >= 1, `the breaker opened${why}`)
  assert.ok(r.missing <= bound, `${r.missing} records never reached the downstream, bound ${bound} (the failure threshold plus the calls in flight)${why}`)
  assert.ok(r.lost >= r.missing, `every record the downstream never got is counted lost (${r.lost} counted, ${r.missing} missing)${why}`)
  assert.ok(r.lost - r.missing <= bound, `counted lost beyond the missing ones only for calls the downstream got but did not answer${why}`)
  assert.equal(r.inDoubt, 0, why)
  assert.ok(r.failedLines <= bound, `no line per message while open: ${r.failedLines} 'handler failed' lines${why}`)
  assert.ok(r.closes.length >= 1, `a 'circuit breaker closed' line${why}`)
  assert.ok(r.resumeMs !== null && r.resumeMs <= BACKOFF_MAX_MS * 1.2 + 5000, `resumed ${r.resumeMs} ms after the downstream returned: within one back-off step${why}`)
}

export function outageCases(broker: CaseBroker): void {
  const run = (o: Pick<OutageOptions, 'downstream' | 'env'>) =>
    runOutage({ bootstrap: broker.bootstrap(), createTopic: broker.createTopic, serviceArgs: broker.serviceArgs ?? [], ...o })

  describe('the downstream down for 20 s under load: paused, not lost', { concurrency: true }, () => {
    it('webhook, defaults: at most 20 records never delivered, each counted lost, none twice, resumed within a back-off step', async () => {
      check(await run({ downstream: 'webhook' }), 20)
    })
    it('webhook, ORDERING=key, COMMIT_WINDOW=100, MAX_IN_FLIGHT=200: at most 250 (the calls in flight) never delivered, each counted lost, none twice', async () => {
      check(await run({ downstream: 'webhook', env: { ORDERING: 'key', COMMIT_WINDOW: '100', MAX_IN_FLIGHT: '200' } }), 250)
    })
    it('PostgreSQL stopped and started, defaults: at most 20 rows missing, each counted lost, no second INSERT of a record', async () => {
      check(await run({ downstream: 'postgres' }), 20)
    })
  })
}
