// The benchmark's handler: a no-op that records when it was first and last called, so the
// service's throughput is exact (no polling error). One performance.now() per message.
// BENCH_HANDLER_MS > 0: like the users' handlers, it awaits I/O that long (a timer, no CPU).
// It reports on SIGTERM, before the service's shutdown (stdout writes to a pipe are synchronous).
// Under `npm run bench -- --diagnose` it also reports each call to scripts/bench/counters.mjs.
let first = 0
let last = 0
let n = 0
const counters = globalThis.__amoBenchCounters

function benchHandler() {
  const t = performance.now()
  if (n++ === 0) first = t
  last = t
}

function countedHandler(message) {
  const t = performance.now()
  if (n++ === 0) first = t
  last = t
  counters.onMessage(message.topic, message.partition, t, performance.now() - t)
}

const ioMs = Number(process.env.BENCH_HANDLER_MS ?? 0)
function ioHandler() {
  benchHandler()
  return new Promise((resolve) => setTimeout(resolve, ioMs))
}

export default ioMs > 0 ? ioHandler : counters ? countedHandler : benchHandler

process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ level: 30, msg: 'bench-handler', n, firstMs: performance.timeOrigin + first, lastMs: performance.timeOrigin + last })}\n`)
})
