/**
 * What a shared case (test/support/*-cases.ts) needs of a broker, and the helpers those cases
 * use on any broker. The mock cluster (fast tier) and Apache Kafka (integration tier) each give
 * one: the same case, the same checks, on both.
 */
import { endOffsets, produce, sequence } from '../../harness/kafka-tools.ts'
import type { ServiceProcess } from '../../harness/service-process.ts'

export interface CaseBroker {
  /** Which broker: a check that holds on one broker only says so with `kind`. */
  kind: 'mock' | 'kafka'
  bootstrap: () => string[]
  createTopic: (topic: string, partitions: number) => Promise<void>
  /** Extra `node` arguments for the service (the mock's multi-member preload). */
  serviceArgs?: string[]
}

/** "partition:offset" of every `consumed` line of these instances together. */
export function consumedKeys(...svcs: ServiceProcess[]): string[] {
  return svcs.flatMap((s) => s.consumed().map((c) => `${c.partition}:${c.offset}`))
}

/** Sorted `seq` values of every `consumed` line. */
export function consumedSeqs(...svcs: ServiceProcess[]): number[] {
  return svcs.flatMap((s) => s.consumed().map((c) => (c.value as { seq: number }).seq)).sort((a, b) => a - b)
}

export const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i)

/**
 * Produce `n` JSON messages {seq} (seq from `start`) round-robin over `partitions`, and check that
 * the topic grew by exactly `n`: kafkajs's producer is not idempotent, and a resent request would
 * put duplicates into the topic that the service would then rightly process twice.
 */
export async function produceExactly(bootstrap: string[], topic: string, n: number, partitions: number, start = 0): Promise<void> {
  const total = async () => [...(await endOffsets(bootstrap, topic)).values()].reduce((a, b) => a + b, 0)
  const before = await total()
  await produce(bootstrap, topic, sequence(n, partitions, start))
  const grown = (await total()) - before
  if (grown !== n) throw new Error(`produced ${n} messages to ${topic} but the topic grew by ${grown} (producer retries)`)
}
