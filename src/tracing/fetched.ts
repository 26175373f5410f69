/**
 * When each message was fetched, so that a message's span can start there and show the wait
 * before its handler (in COMMIT_MODE=sync: the wait for the commit that covers it). The consumer
 * marks each batch it is handed (`markFetched(batch.messages)`); nothing is kept when tracing is
 * off, and a WeakMap lets the marks go with the messages.
 */
import type { KafkaMessage } from 'kafkajs'

let marks: WeakMap<KafkaMessage, number> | undefined

/** Called by the tracing SDK's start and shutdown. */
export function keepFetchTimes(on: boolean): void {
  marks = on ? new WeakMap() : undefined
}

export function markFetched(messages: readonly KafkaMessage[], at = Date.now()): void {
  if (!marks) return
  for (const m of messages) marks.set(m, at)
}

export function fetchedAt(message: KafkaMessage): number | undefined {
  return marks?.get(message)
}
