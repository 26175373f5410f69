/**
 * Shared by the integration tier: one Apache Kafka per test file (KAFKA_VERSION, else the
 * launcher's default), fresh topic and group names per case. When Java, Maven or the Kafka jars
 * are missing the launcher throws a KafkaLauncherError that says what to install, and the file
 * fails with it: this tier is never skipped.
 */
import { randomBytes } from 'node:crypto'
import { ApacheKafka, type KafkaOptions } from '../../harness/brokers/apache-kafka/index.ts'
import { produceExactly as produceExactlyTo } from '../support/case-broker.ts'

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

export { consumedKeys, consumedSeqs, range } from '../support/case-broker.ts'

/** produceExactly of test/support/case-broker.ts, to this cluster. */
export function produceExactly(kafka: ApacheKafka, topic: string, n: number, partitions: number, start = 0): Promise<void> {
  return produceExactlyTo(kafka.bootstrap, topic, n, partitions, start)
}
