/**
 * The broker a bench section runs against: librdkafka's mock cluster (in-process, round trip
 * can be added) or a one-node Apache Kafka started by the project's launcher (nothing can be
 * added to its round trip: loopback only).
 */
import { spawnSync } from 'node:child_process'
import { MockCluster } from '../../harness/brokers/mock-cluster.ts'

export interface BenchBroker {
  kind: 'mock' | 'kafka'
  label: string
  bootstrap: string[]
  /** The added round trips this broker can be measured at. */
  rtts: number[]
  setRtt(ms: number): void
  close(): Promise<void>
}

export async function startMock(topic: string, partitions: number): Promise<BenchBroker> {
  const cluster = MockCluster.start({ brokers: 1, topics: { [topic]: partitions } })
  return {
    kind: 'mock',
    label: `librdkafka ${MockCluster.librdkafkaVersion()} mock cluster, 1 broker`,
    bootstrap: cluster.brokers,
    rtts: [0, 2],
    setRtt: (ms) => cluster.setRtt(ms),
    close: async () => cluster.close(),
  }
}

/** Fails early, naming what to install, when Apache Kafka cannot run here. */
export function checkKafkaPrerequisites(): void {
  for (const [bin, hint] of [
    ['java', 'a JDK 17+ (e.g. `sudo apt-get install -y openjdk-17-jdk-headless`)'],
    ['mvn', 'Maven (e.g. `sudo apt-get install -y maven`)'],
  ] as const) {
    const r = spawnSync(bin, [bin === 'java' ? '-version' : '-v'], { encoding: 'utf8' })
    if (r.error || r.status !== 0) {
      throw new Error(`the Apache Kafka rows need ${hint}: \`${bin}\` could not be run. Install it, or run \`npm run bench -- --broker=mock\` for the mock rows only.`)
    }
  }
}

export async function startKafka(topic: string, partitions: number, log: (s: string) => void): Promise<BenchBroker> {
  // Imported here: the mock-only run needs neither the launcher nor Java.
  const { ApacheKafka } = await import('../../harness/brokers/apache-kafka/index.ts')
  const kafka = await ApacheKafka.start({ nodes: 1 })
  log(`Apache Kafka ${kafka.version} up in ${kafka.startMs} ms at ${kafka.bootstrap.join(',')}`)
  await kafka.createTopic(topic, partitions, 1)
  return {
    kind: 'kafka',
    label: `Apache Kafka ${kafka.version}, 1 KRaft node (broker+controller)`,
    bootstrap: kafka.bootstrap,
    rtts: [0],
    setRtt: (ms) => {
      if (ms !== 0) throw new Error('Apache Kafka: no round trip can be added')
    },
    close: () => kafka.stop(),
  }
}
