/**
 * Process warnings as JSON log lines like every other line (Node would print them as plain text on
 * stderr). kafkajs 2.2.4's request queue arms a timer with a negative delay whenever no request is
 * throttled (network/requestQueue scheduleCheckPendingRequests); Node 24 warns about it
 * (TimeoutNegativeWarning) and uses 1 ms, which is what kafkajs meant: harmless, so at debug.
 * Used by the service (server.ts) and the weather producer.
 */
import type { Logger } from 'pino'

export function logWarnings(log: Logger): void {
  process.removeAllListeners('warning')
  process.on('warning', (w: Error) => {
    if (w.name === 'TimeoutNegativeWarning') log.debug({ warning: w.name }, w.message)
    else log.warn({ warning: w.name, code: (w as { code?: string }).code }, w.message)
  })
}
