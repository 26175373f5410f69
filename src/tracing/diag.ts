/**
 * The SDK's own diagnostics (an export that failed because the backend is down, spans dropped
 * because the queue is full) as log lines: never above warn, since they never affect processing,
 * and each kind at most once a minute, with how many were held back, so that a backend that is
 * down cannot flood the log at one line per export.
 */
import type { DiagLogger } from '@opentelemetry/api'
import type { Logger } from 'pino'

export const DIAG_INTERVAL_MS = 60_000

export function diagLogger(log: Logger, intervalMs = DIAG_INTERVAL_MS, now = Date.now): DiagLogger {
  const seen = new Map<string, { at: number; held: number }>()
  const line = (level: 'warn' | 'debug') => (message: string, ...args: unknown[]) => {
    const kind = message.replace(/\d+/g, 'N').slice(0, 120)
    const last = seen.get(kind)
    const t = now()
    if (last && t - last.at < intervalMs) {
      last.held++
      return
    }
    seen.set(kind, { at: t, held: 0 })
    const detail = args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ') || undefined
    log[level]({ component: 'opentelemetry', detail, heldBack: last?.held || undefined }, message)
  }
  return { error: line('warn'), warn: line('warn'), info: line('debug'), debug: line('debug'), verbose: line('debug') }
}
