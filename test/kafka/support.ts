/**
 * Shared by the integration tier: one Apache Kafka per test file (KAFKA_VERSION, else the
 * launcher's default), fresh topic and group names per case. When Java, Maven or the Kafka jars
 * are missing the launcher throws a KafkaLauncherError that says what to install, and the file
 * fails with it: this tier is never skipped.
 */
import { randomBytes } from 'node:crypto'
import { ApacheKafka, type KafkaOptions } from '../../harness/brokers/apache-kafka/index.ts'
import { endOffsets, produce, sequence } from '../../harness/kafka-tools.ts'
import type { ServiceProcess } from '../../harness/service-process.ts'

export async function startKafka(opts: Omit<KafkaOptions, 'version'> = {}): Promise<ApacheKafka> {
  const lines: string[] = []
  try {
    return await ApacheKafka.start({
      ...opts,
      // The JVM's lines are kept for a failure message only; KAFKA_TEST_LOG=1 prints them.
      log: (l) => {
        if (process.env.KAFKA_TEST_LOG) console.log(l)
        lines.push(l)
        if (lines.length > 200) lines.shift()
      },
    })
  } catch (err) {
    throw new Error(`the integration tier needs Apache Kafka: ${(err as Error).message}`, { cause: err })
  }
}

/** A name no other case of this run uses (topics and groups are never shared between cases). */
export const uniq = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`

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
export async function produceExactly(kafka: ApacheKafka, topic: string, n: number, partitions: number, start = 0): Promise<void> {
  const total = async () => [...(await endOffsets(kafka.bootstrap, topic)).values()].reduce((a, b) => a + b, 0)
  const before = await total()
  await produce(kafka.bootstrap, topic, sequence(n, partitions, start))
  const grown = (await total()) - before
  if (grown !== n) throw new Error(`produced ${n} messages to ${topic} but the topic grew by ${grown} (producer retries)`)
}
