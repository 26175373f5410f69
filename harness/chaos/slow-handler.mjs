// The chaos suite's slow handler (HANDLER=<this file>, CHAOS_HANDLER_MS=<ms>): takes
// CHAOS_HANDLER_MS per message, then writes the same `consumed` line as HANDLER=log, plus the
// message key and when the call started (`startedAt`, epoch ms; the line's `time` is when it
// ended): the key-order check (key-order.ts) reads both. Slow enough that a window of
// COMMIT_WINDOW committed messages is still being processed when a SIGKILL lands: the loss
// bound made real. It stops at the shutdown deadline (AbortSignal).
import { setTimeout as sleep } from 'node:timers/promises'

const MS = Number(process.env.CHAOS_HANDLER_MS ?? 10)

export default async function slow(message, { signal, log }) {
  const startedAt = Date.now()
  await sleep(MS, undefined, { signal })
  const key = message.key === null ? null : message.key.toString()
  log.info({ topic: message.topic, partition: message.partition, offset: message.offset, key, startedAt, value: message.value }, 'consumed')
}
