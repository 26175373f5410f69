/**
 * src/metrics.ts in process, on its own Registry: which series exist from the start (at 0),
 * the per-partition children from assignment to release, the build info. The running service's
 * scrape, promtool and a real Prometheus are observability.test.ts's.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { COMMIT_MODES } from '../src/config/schema.ts'
import { buildInfo, COMMIT_ERROR_TYPES, createMetrics, DEAD_LETTER_RESULTS, LOSS_REASONS, PartitionMetrics } from '../src/metrics.ts'
import { sumMetric } from '../harness/service-process.ts'

describe('createMetrics (in process)', () => {
  it('series with known labels read 0 before anything happens: loss reasons, crash kinds, dead-letter results, ready, in flight', async () => {
    const registry = new Registry()
    createMetrics(registry, { defaultMetrics: false, commitMode: 'sync' })
    const text = await registry.metrics()
    for (const reason of LOSS_REASONS) assert.match(text, new RegExp(`^consumer_messages_lost_total\\{reason="${reason}"\\} 0$`, 'm'), reason)
    for (const restart of ['true', 'false']) assert.match(text, new RegExp(`^consumer_crashes_total\\{restart="${restart}"\\} 0$`, 'm'), restart)
    for (const result of DEAD_LETTER_RESULTS) assert.match(text, new RegExp(`^consumer_dead_letter_total\\{result="${result}"\\} 0$`, 'm'), result)
    assert.match(text, /^consumer_ready 0$/m)
    assert.match(text, /^consumer_rebalances_total 0$/m)
    assert.match(text, /^consumer_handler_calls_in_flight 0$/m)
  })

  it('commit error series start at 0 for the configured mode only; without one, for every mode (and no latency series yet)', async () => {
    const one = new Registry()
    createMetrics(one, { defaultMetrics: false, commitMode: 'async' })
    const oneText = await one.metrics()
    for (const error of COMMIT_ERROR_TYPES) assert.match(oneText, new RegExp(`^consumer_commit_errors_total\\{mode="async",error="${error}"\\} 0$`, 'm'), error)
    assert.doesNotMatch(oneText, /mode="(sync|auto)"/)
    assert.match(oneText, /^consumer_commit_duration_seconds_count\{mode="async"\} 0$/m)

    const all = new Registry()
    createMetrics(all, { defaultMetrics: false })
    const allText = await all.metrics()
    for (const mode of COMMIT_MODES) {
      for (const error of COMMIT_ERROR_TYPES) assert.match(allText, new RegExp(`^consumer_commit_errors_total\\{mode="${mode}",error="${error}"\\} 0$`, 'm'), `${mode} ${error}`)
    }
    assert.doesNotMatch(allText, /^consumer_commit_duration_seconds_count/m, 'the latency histogram appears with the first commit')
  })

  it('lives on the registry it is given: two sets in one process, the default metrics only when asked', async () => {
    const a = new Registry()
    const b = new Registry()
    const ma = createMetrics(a, { defaultMetrics: false })
    createMetrics(b)
    ma.rebalances.inc()
    assert.match(await a.metrics(), /^consumer_rebalances_total 1$/m)
    const bText = await b.metrics()
    assert.match(bText, /^consumer_rebalances_total 0$/m, 'the other set is untouched')
    assert.doesNotMatch(await a.metrics(), /^process_cpu_user_seconds_total/m)
    assert.match(bText, /^process_cpu_user_seconds_total/m)
    assert.match(bText, /^nodejs_eventloop_lag_p99_seconds/m)
  })

  it('the in-flight gauge reads its source at scrape time', async () => {
    const registry = new Registry()
    const m = createMetrics(registry, { defaultMetrics: false })
    let n = 3
    m.inFlightSource.read = () => n
    assert.match(await registry.metrics(), /^consumer_handler_calls_in_flight 3$/m)
    n = 0
    assert.match(await registry.metrics(), /^consumer_handler_calls_in_flight 0$/m)
  })

  it('consumer_build_info carries the package version, the installed kafkajs version and Node\'s, at 1', async () => {
    const registry = new Registry()
    createMetrics(registry, { defaultMetrics: false })
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    const kafkajs = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('kafkajs/package.json'), 'utf8')) as { version: string }
    assert.deepEqual(buildInfo(), { version: pkg.version, kafkajs: kafkajs.version, node: process.version })
    assert.match(
      await registry.metrics(),
      new RegExp(`^consumer_build_info\\{version="${pkg.version}",kafkajs="${kafkajs.version}",node="${process.version}"\\} 1$`, 'm'),
    )
  })
})

describe('PartitionMetrics (in process)', () => {
  it('creates its series at 0 on assignment, flushes ok counts at scrape; at release removes its gauges for good and keeps counting', async () => {
    const registry = new Registry()
    const m = createMetrics(registry, { defaultMetrics: false, commitMode: 'sync' })
    const before = await registry.metrics()
    assert.doesNotMatch(before, /topic="t"/)
    assert.match(before, /^consumer_commit_duration_seconds_count\{mode="sync"\} 0$/m, 'the configured mode\'s latency series from 0')
    assert.doesNotMatch(before, /mode="async"/, 'only the configured mode')
    const pm = new PartitionMetrics(m, 't', 7)
    const tp = { topic: 't', partition: '7' }
    let text = await registry.metrics()
    for (const name of ['consumer_messages_committed_total', 'consumer_messages_at_risk', 'consumer_lag']) {
      assert.match(text, new RegExp(`^${name}\\{topic="t",partition="7"\\} 0$`, 'm'), name)
    }
    assert.match(text, /^consumer_messages_processed_total\{topic="t",partition="7",status="failed"\} 0$/m)
    pm.ok.inc()
    pm.ok.inc()
    pm.committed.inc(3)
    pm.atRisk.inc(1)
    text = await registry.metrics()
    assert.equal(sumMetric(text, 'consumer_messages_processed_total', { ...tp, status: 'ok' }), 2, 'ok counts flushed at scrape')
    assert.equal(sumMetric(text, 'consumer_messages_at_risk', tp), 1)
    pm.release()
    pm.ok.inc()
    pm.failed.inc()
    pm.committed.inc()
    pm.atRisk.dec()
    pm.lag.set(5)
    pm.skipped('undecodable')
    pm.lost('handler_failed')
    text = await registry.metrics()
    for (const name of ['consumer_messages_at_risk', 'consumer_lag']) {
      assert.doesNotMatch(text, new RegExp(`^${name}\\{topic="t"`, 'm'), `${name}: removed at release, not brought back`)
    }
    // Acknowledged messages processed after revocation still count: committed and processed add up.
    assert.equal(sumMetric(text, 'consumer_messages_processed_total', { ...tp, status: 'ok' }), 3)
    assert.equal(sumMetric(text, 'consumer_messages_processed_total', { ...tp, status: 'failed' }), 1)
    assert.equal(sumMetric(text, 'consumer_messages_committed_total', tp), 4)
    assert.equal(sumMetric(text, 'consumer_messages_skipped_total', { ...tp, reason: 'undecodable' }), 1)
    assert.match(text, /^consumer_messages_lost_total\{reason="handler_failed"\} 1$/m, 'loss is still counted')
    await registry.metrics()
    assert.ok(!m.pending.has((pm as unknown as { flushOk: () => void }).flushOk), 'a released partition stops being flushed once drained')
  })
})
