/**
 * What the demo knows about the run, kept from the service's lines, /metrics and the broker.
 * State only: what reaches the screen is demo.ts's and footer.ts's.
 */
import type { Json } from './format.ts'
import type { Metrics } from './metrics.ts'

export const tally = {
  consumed: 0,
  lastConsumed: '',
  port: 0,
  finalCommit: undefined as Json | undefined,
  complete: undefined as Json | undefined,
  /** The first error or fatal line of the service (why it stopped, when it stopped on its own). */
  failure: undefined as string | undefined,
  stderr: [] as string[],
  stopReason: '',
  metrics: { processedOk: 0, processedFailed: 0, committed: 0, atRisk: 0, lost: 0, breaker: '', breakerOpened: 0 } as Metrics,
  ready: 'starting',
  produced: 0,
  /** `--downstream` only: the demo's downstream (scripts/demo/downstream.ts) as the footer shows it. */
  downstream: undefined as { up: boolean; takenDown: number; keys: 'key' | 'stdin' } | undefined,
  /** Held messages the service counted lost at shutdown (the breaker was still open). */
  heldLost: 0,
}

export type Tally = typeof tally

/** Keep what the summary needs from the service's lines; the port when this line is the first to tell it. */
export function observe(name: string, o: Json): number | undefined {
  if (name !== 'service') return undefined
  const msg = String(o.msg ?? '')
  if (msg === 'consumed') {
    tally.consumed++
    tally.lastConsumed = `${o.topic}[${o.partition}]@${o.offset}`
  } else if (msg.startsWith('final commit')) tally.finalCommit = o
  else if (msg.startsWith('shutdown complete') || msg.startsWith('shutdown finished')) tally.complete = o
  else if (msg.startsWith('committed messages held while the circuit breaker was open are lost')) tally.heldLost += Number(o.count ?? 0)
  if (Number(o.level) >= 50 && tally.failure === undefined) {
    const err = o.err as Json | undefined
    tally.failure = typeof err?.message === 'string' ? `${msg}: ${err.message}` : msg
  }
  const m = /^Server listening at http:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)/.exec(msg)
  if (!m || tally.port) return undefined
  tally.port = Number(m[1])
  return tally.port
}
