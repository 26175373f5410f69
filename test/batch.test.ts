/** src/consumer/batch.ts: one fetched batch as the loops see it, built by the one factory. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { ALWAYS_CLOSED } from '../src/consumer/breaker.ts'
import { createBatch, HEARTBEAT_CHECK_MS, type BatchSource } from '../src/consumer/batch.ts'
import { COMMIT_MODE_BEHAVIOUR } from '../src/consumer/commit-modes.ts'
import { InFlightLimiter } from '../src/consumer/in-flight.ts'
import { Partitions } from '../src/consumer/partitions.ts'
import { createMetrics } from '../src/metrics.ts'
import { messages, sleep } from './support/fake-batch.ts'
import { memoryLog } from './support/memory-log.ts'

function setup(source: Partial<BatchSource> = {}, stopping = () => false) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false, commitMode: 'sync' })
  const { log, lines } = memoryLog()
  const state = new Partitions({ metrics, transport: { send: async () => undefined }, log, mode: COMMIT_MODE_BEHAVIOUR.sync }).get('t', 0)
  const resolved: string[] = []
  const dropped: string[] = []
  const b = createBatch(
    {
      batch: { topic: 't', partition: 0, messages: messages(['a', 'b']), highWatermark: '2' },
      resolveOffset: (o) => void resolved.push(o),
      heartbeat: async () => undefined,
      isRunning: () => true,
      ...source,
    },
    state,
    { window: 5, ordering: 'key', limiter: new InFlightLimiter(3), deadline: new AbortController().signal, breaker: ALWAYS_CLOSED, stopping, dropped: (_p, m) => void dropped.push(m.offset), log },
  )
  return { b, state, resolved, dropped, lines }
}

describe('Batch', () => {
  it('carries the batch and the shared parts; resolve goes to kafkajs', () => {
    const t = setup()
    assert.deepEqual([t.b.topic, t.b.partition, t.b.messages.length, t.b.window, t.b.ordering], ['t', 0, 2, 5, 'key'])
    assert.equal(t.b.state, t.state)
    t.b.resolve('1')
    assert.deepEqual(t.resolved, ['1'])
  })
  it('active until shutdown, a rebalance, or kafkajs stopping', async () => {
    let stopping = false
    let running = true
    const t = setup({ isRunning: () => running, heartbeat: async () => Promise.reject(Object.assign(new Error('r'), { type: 'REBALANCE_IN_PROGRESS' })) }, () => stopping)
    assert.equal(t.b.active(), true)
    stopping = true
    assert.equal(t.b.active(), false)
    stopping = false
    running = false
    assert.equal(t.b.active(), false)
    running = true
    await t.b.heartbeat(true)
    assert.equal(t.b.active(), false, 'a rebalance surfaced by a heartbeat')
    assert.equal((t.b.rebalance as { type: string }).type, 'REBALANCE_IN_PROGRESS')
  })
  it('offers a heartbeat at most every HEARTBEAT_CHECK_MS; another failure is logged, not a rebalance', async () => {
    let beats = 0
    const t = setup({
      heartbeat: async () => {
        beats++
        throw new Error('broker gone')
      },
    })
    assert.equal(t.b.heartbeat(), undefined, 'not due right after the fetch')
    await sleep(HEARTBEAT_CHECK_MS + 20)
    await t.b.heartbeat()
    assert.equal(t.b.heartbeat(), undefined)
    assert.equal(beats, 1)
    assert.equal(t.b.rebalance, undefined)
    assert.ok(t.lines.some((l) => l.msg === 'heartbeat failed' && l.level === 40))
  })
  it('a dropped message leaves the at-risk set and is reported', () => {
    const t = setup()
    t.state.atRisk.covered(1)
    t.b.drop(t.b.messages[0]!)
    assert.deepEqual(t.dropped, ['0'])
  })
})
