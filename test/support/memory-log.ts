/** A pino logger at debug whose lines are kept, parsed, for assertions. */
import { Writable } from 'node:stream'
import { pino } from 'pino'

export function memoryLog() {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      cb()
    },
  })
  return { log: pino({ level: 'debug' }, stream), lines }
}
