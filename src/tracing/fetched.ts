/**
 * When each message was fetched, so that a message's span can start there and show the wait
 * before its handler (in COMMIT_MODE=sync: the wait for the commit that covers it). The consumer
 * marks each batch it is handed (`markFetched(batch.messages)`); nothing is kept when tracing is
 * off.
 *
 * The mark is a symbol-keyed property on the message object itself: it goes with the message,
 * costs one property store per message (a WeakMap entry per message cost ~5× that, and its
 * ephemeron table had to be walked by every garbage collection), and no other code sees it
 * (symbol keys are not enumerated by Object.keys, for…in or JSON.stringify).
 */
import type { KafkaMessage } from 'kafkajs'

const FETCHED_AT = Symbol('amo.fetchedAt')
type Marked = KafkaMessage & { [FETCHED_AT]?: number }

let on = false

/** Called by the tracing SDK's start and shutdown. */
export function keepFetchTimes(keep: boolean): void {
  on = keep
}

export function markFetched(messages: readonly KafkaMessage[], at = Date.now()): void {
  if (!on) return
  for (let i = 0; i < messages.length; i++) (messages[i] as Marked)[FETCHED_AT] = at
}

/** The fetch time (ms since the epoch) marked on `message`, or undefined. */
export function fetchedAt(message: KafkaMessage): number | undefined {
  return (message as Marked)[FETCHED_AT]
}
