/**
 * Before subscribing: do the topics exist, and how many partitions do they have?
 * Real clusters run with topic auto-creation off, so a missing topic is reported by name
 * (TopicMissingError, retried by the connect loop) instead of surfacing as kafkajs's generic
 * "This server does not host this topic-partition". The partition count sizes the default
 * PARTITION_CONCURRENCY=all: every partition this instance can be assigned is processed at once.
 */
import type { Kafka } from 'kafkajs'
import { TopicMissingError } from '../errors.ts'

export interface TopicsInfo {
  /** Partitions of all subscribed topics together. */
  partitions: number
}

export async function inspectTopics(kafka: Kafka, topics: string[]): Promise<TopicsInfo> {
  const admin = kafka.admin({ retry: { retries: 1 } })
  await admin.connect()
  try {
    // Listing asks for no topic by name, so nothing is auto-created and nothing is retried.
    const existing = new Set(await admin.listTopics())
    const missing = topics.filter((t) => !existing.has(t))
    if (missing.length > 0) throw new TopicMissingError(missing)
    const { topics: meta } = await admin.fetchTopicMetadata({ topics })
    return { partitions: meta.reduce((n, t) => n + t.partitions.length, 0) }
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}
