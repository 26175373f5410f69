/**
 * One dead-letter copy: the failed message's key, value and headers, detached from kafkajs's fetch
 * response, plus the x-amo-* headers naming where it came from and why; and what it is counted
 * for against DEAD_LETTER_MAX_QUEUED_BYTES (sizeOf).
 */
import type { IHeaders, KafkaMessage, Message } from 'kafkajs'
import type { LossReason } from '../../metrics.ts'

/**
 * Bytes counted per copy on top of its key, value and headers: its objects, strings and buffer
 * headers in the heap (measured on Node 24: ~900 bytes of RSS beyond the payload for a copy of a
 * 200-byte message with the five x-amo-* headers).
 */
export const COPY_OVERHEAD_BYTES = 1024

export interface Copy {
  message: Message
  bytes: number
  /** When send() queued it (ms). */
  at: number
  source: { topic: string; partition: number; offset: string }
}

/** The copy of a failed message, queued now, with x-amo-* headers naming where it came from and why. */
export function copyOf({ topic, partition, message }: { topic: string; partition: number; message: KafkaMessage }, reason: LossReason, error: unknown): Copy {
  const source = { topic, partition, offset: message.offset }
  const headers: IHeaders = {
    ...copyHeaders(message.headers),
    'x-amo-source-topic': topic,
    'x-amo-source-partition': String(partition),
    'x-amo-source-offset': message.offset,
    'x-amo-reason': reason,
    'x-amo-error': error instanceof Error ? error.message : String(error),
  }
  const out: Message = { key: detach(message.key), value: detach(message.value), headers }
  return { message: out, bytes: sizeOf(out), at: Date.now(), source }
}

/** A Buffer of its own (not a view of kafkajs's fetch response, which would keep the whole response alive). */
function detach<T extends Buffer | string | null | undefined>(v: T): T {
  return (Buffer.isBuffer(v) ? Buffer.from(v) : v) as T
}

function copyHeaders(headers: IHeaders | undefined): IHeaders {
  const out: IHeaders = {}
  for (const [k, v] of Object.entries(headers ?? {})) out[k] = Array.isArray(v) ? v.map((x) => detach(x)) : detach(v)
  return out
}

function byteLength(v: Buffer | string | null | undefined): number {
  if (v == null) return 0
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length
}

/** What a copy is counted for against DEAD_LETTER_MAX_QUEUED_BYTES. */
export function sizeOf(m: Message): number {
  let n = COPY_OVERHEAD_BYTES + byteLength(m.key) + byteLength(m.value)
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    n += k.length
    if (Array.isArray(v)) for (const x of v) n += byteLength(x)
    else n += byteLength(v)
  }
  return n
}
