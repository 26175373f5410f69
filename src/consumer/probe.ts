/**
 * The handler module's probe (src/message/handler.ts Probe) as the circuit breaker calls it: with a
 * signal that fires at its time limit (HANDLER_TIMEOUT_MS, or PROBE_TIMEOUT_MS when that is 0) or at
 * shutdown, and not waited for past it even if it ignores the signal.
 */
import type { Logger } from 'pino'
import type { Probe } from '../message/handler.ts'

/** The probe's time limit when HANDLER_TIMEOUT_MS=0 (no limit for handlers). */
export const PROBE_TIMEOUT_MS = 30_000

export function boundedProbe(probe: Probe, timeoutMs: number, stop: AbortSignal, log: Logger): () => Promise<void> {
  return async () => {
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs || PROBE_TIMEOUT_MS), stop])
    const gaveUp = new Promise<never>((_resolve, reject) => {
      const fail = () => reject(signal.reason instanceof Error ? signal.reason : new Error('probe aborted'))
      if (signal.aborted) fail()
      else signal.addEventListener('abort', fail, { once: true })
    })
    gaveUp.catch(() => undefined)
    await Promise.race([Promise.resolve().then(() => probe({ signal, log })), gaveUp])
  }
}
