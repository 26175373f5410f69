/** ProcessDeps for processMessage tests: the json decoder, no time limit, real metrics on a fresh Registry, a memory log. */
import { Registry } from 'prom-client'
import { createDecoder } from '../../src/message/decode.ts'
import type { Handler } from '../../src/message/handler.ts'
import type { ProcessDeps } from '../../src/message/process.ts'
import { createMetrics, PartitionMetrics } from '../../src/metrics.ts'
import { memoryLog } from './memory-log.ts'

export function processDeps(handler: Handler, over: Partial<ProcessDeps> = {}) {
  const registry = new Registry()
  const metrics = createMetrics(registry, { defaultMetrics: false })
  const { log, lines } = memoryLog()
  const d: ProcessDeps = {
    decode: createDecoder('json'),
    handler,
    handlerTimeoutMs: 0,
    deadline: new AbortController().signal,
    log,
    metrics: new PartitionMetrics(metrics, 't', 0),
    ...over,
  }
  return { d, lines, text: () => registry.metrics() }
}
