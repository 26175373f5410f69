/** ProcessDeps for processMessage tests: the json decoder, no time limit, its call watch, real metrics on a fresh Registry, a memory log. */
import { Registry } from 'prom-client'
import { CallWatch } from '../../src/message/call-watch.ts'
import { createDecoder } from '../../src/message/decode.ts'
import type { Handler } from '../../src/message/handler.ts'
import type { ProcessDeps } from '../../src/message/process.ts'
import { createMetrics, PartitionMetrics } from '../../src/metrics.ts'
import { memoryLog } from './memory-log.ts'

export function processDeps(handler: Handler, over: Partial<ProcessDeps> = {}) {
  const registry = new Registry()
  const metrics = createMetrics(registry, { defaultMetrics: false })
  const { log, lines } = memoryLog()
  const handlerTimeoutMs = over.handlerTimeoutMs ?? 0
  const deadline = over.deadline ?? new AbortController().signal
  const d: ProcessDeps = {
    decode: createDecoder('json'),
    handler,
    log,
    metrics: new PartitionMetrics(metrics, 't', 0),
    ...over,
    handlerTimeoutMs,
    deadline,
    // One watch per deps, as the service has one: same limit, same deadline.
    watch: over.watch ?? new CallWatch(handlerTimeoutMs, deadline),
  }
  return { d, lines, text: () => registry.metrics() }
}
