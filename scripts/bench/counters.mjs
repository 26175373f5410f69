// `npm run bench -- --diagnose`: loaded into the service with `node --import`, it counts where
// a fetch round's time goes, without touching the service's code: kafkajs' Runner.fetch (one
// fetch round per call), Runner.handleBatch (one partition's batch) and ConsumerGroup's
// commitOffsets (one OffsetCommit request) are wrapped; the bench handler reports each call's
// time through globalThis.__amoBenchCounters. Reported as one JSON line at SIGTERM.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const Runner = require('kafkajs/src/consumer/runner.js')
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js')

const c = {
  fetchRounds: 0,
  fullRounds: 0,
  fetchMs: 0,
  processMs: 0,
  batches: 0,
  messages: 0,
  commits: 0,
  commitMs: 0,
  firstCommitWaitMs: 0,
  roundCommitWaitMs: 0,
  handlerMs: 0,
  wallMs: 0,
}
let roundStart = 0 // the fetch of the current round returned messages at this time (0: none)
let roundFirstMessage = 0
let firstAt = 0
let lastAt = 0
const batchStart = new Map() // partition key -> time its batch was handed over, until its first message

function endRound(now) {
  if (roundStart) {
    c.processMs += now - roundStart
    if (roundFirstMessage) c.roundCommitWaitMs += roundFirstMessage - roundStart
  }
  roundStart = 0
  roundFirstMessage = 0
}

const fetch = Runner.prototype.fetch
Runner.prototype.fetch = async function (nodeId) {
  const t = performance.now()
  endRound(t)
  const batches = await fetch.call(this, nodeId)
  const now = performance.now()
  c.fetchRounds++
  c.fetchMs += now - t
  if (batches.some((b) => b.messages.length > 0)) {
    c.fullRounds++
    roundStart = now
    if (!firstAt) firstAt = now
  }
  return batches
}

const handleBatch = Runner.prototype.handleBatch
Runner.prototype.handleBatch = async function (batch) {
  if (batch.messages.length > 0) {
    c.batches++
    c.messages += batch.messages.length
    batchStart.set(`${batch.topic}|${batch.partition}`, performance.now())
  }
  try {
    return await handleBatch.call(this, batch)
  } finally {
    lastAt = performance.now()
  }
}

const commitOffsets = ConsumerGroup.prototype.commitOffsets
ConsumerGroup.prototype.commitOffsets = async function (offsets) {
  const t = performance.now()
  try {
    return await commitOffsets.call(this, offsets)
  } finally {
    c.commits++
    c.commitMs += performance.now() - t
  }
}

globalThis.__amoBenchCounters = {
  /** The bench handler's call for (topic, partition) at time t, having taken `ms`. */
  onMessage(topic, partition, t, ms) {
    c.handlerMs += ms
    if (roundStart && !roundFirstMessage) roundFirstMessage = t
    if (batchStart.size > 0) {
      const key = `${topic}|${partition}`
      const s = batchStart.get(key)
      if (s !== undefined) {
        c.firstCommitWaitMs += t - s
        batchStart.delete(key)
      }
    }
  },
}

process.on('SIGTERM', () => {
  c.wallMs = firstAt ? Math.max(lastAt, performance.now()) - firstAt : 0
  const round = (v) => Math.round(v * 10) / 10
  process.stdout.write(`${JSON.stringify({ level: 30, msg: 'bench-counters', ...Object.fromEntries(Object.entries(c).map(([k, v]) => [k, round(v)])) })}\n`)
})
