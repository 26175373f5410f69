/** Short-lived kafkajs clients that ask a node or the cluster something, quietly and without retries. */
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs'

export function quietClient(brokers: string[], extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'amo-kafka-launcher',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
    ...extra,
  })
}

/** The node ids the cluster lists, ascending. */
export async function describeIds(brokers: string[]): Promise<number[]> {
  const admin = quietClient(brokers).admin()
  try {
    await admin.connect()
    const { brokers: list } = await admin.describeCluster()
    return list.map((b) => b.nodeId).sort((a, b) => a - b)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}
