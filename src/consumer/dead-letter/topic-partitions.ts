/**
 * The dead-letter topic's partitions, looked up with an admin client of their own (and again every
 * METADATA_MAX_AGE_MS, so that new partitions get copies), and the partition each copy goes to,
 * chosen as kafkajs's default partitioner would: murmur2 of the key, else round robin.
 */
import { Partitioners, type Admin, type Kafka, type Message, type PartitionMetadata } from 'kafkajs'

/** Partitions of the dead-letter topic are looked up again this often (new partitions get copies). */
const METADATA_MAX_AGE_MS = 5 * 60_000

export class TopicPartitions {
  private partitionMeta: PartitionMetadata[] | undefined
  private metaAt = 0
  private metaRefresh: Promise<void> | undefined
  private admin: Admin | undefined
  private adminConnected = false
  private readonly partitioner = Partitioners.DefaultPartitioner()

  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
  ) {}

  get known(): boolean {
    return this.partitionMeta !== undefined
  }

  /** The partition the copy goes to; undefined while the partitions are not known. A stale look-up is renewed in the background. */
  partitionOf(message: Message): number | undefined {
    if (!this.partitionMeta) return undefined
    if (Date.now() - this.metaAt > METADATA_MAX_AGE_MS) void this.refresh().catch(() => undefined)
    return this.partitioner({ topic: this.topic, partitionMetadata: this.partitionMeta, message })
  }

  /** Look the partitions up (one look-up at a time); rejects when none are known for the topic. */
  refresh(): Promise<void> {
    this.metaRefresh ??= (async () => {
      this.admin ??= this.kafka.admin({ retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 } })
      if (!this.adminConnected) {
        await this.admin.connect()
        this.adminConnected = true
      }
      const { topics } = await this.admin.fetchTopicMetadata({ topics: [this.topic] })
      const partitions = topics.find((t) => t.name === this.topic)?.partitions ?? []
      if (partitions.length === 0) throw new Error(`no partitions known for ${this.topic}`)
      this.partitionMeta = [...partitions].sort((a, b) => a.partitionId - b.partitionId)
      this.metaAt = Date.now()
    })().finally(() => (this.metaRefresh = undefined))
    return this.metaRefresh
  }

  disconnect(): Promise<void> | undefined {
    return this.admin?.disconnect()
  }
}
