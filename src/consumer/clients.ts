/**
 * The Kafka clients of one consumer service, created together and closed by one function in one
 * order:
 *
 *   kafka      the client of the consumer, the loss ledger's admin reads and the dead-letter producer
 *   probe      the start-up probe's client (topics.ts): one try per seed broker (createProbeKafka)
 *   consumer   the kafkajs consumer (the group member)
 *   admin      an admin client, opened on first use: the loss ledger's reads of the group
 *              (loss-ledger/read-group.ts) and the end offsets while fetching is paused (paused-lag.ts)
 *   deadLetter the dead-letter producer, when DEAD_LETTER_TOPIC is set
 *
 * Every socket of `kafka` and `probe` is tracked, so that a pending group join can be given up at
 * shutdown (`abort()`).
 */
import type { Admin, Consumer, ConsumerConfig, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import type { ServiceConfig } from '../config/load.ts'
import type { Metrics } from '../metrics.ts'
import { withTimeout } from './bounded.ts'
import { DeadLetterProducer } from './dead-letter/producer.ts'
import { createKafka, createProbeKafka, Sockets } from './kafka-client.ts'

export class ConsumerClients {
  readonly sockets = new Sockets()
  readonly kafka: Kafka
  readonly probe: Kafka
  readonly consumer: Consumer
  readonly deadLetter: DeadLetterProducer | undefined
  private adminClient: Admin | undefined

  /** `kafka`: a client to use instead of one built from the configuration (tests). */
  constructor(config: ServiceConfig, consumerConfig: ConsumerConfig, metrics: Metrics, log: Logger, kafka?: Kafka) {
    this.kafka = kafka ?? createKafka(config, log, { sockets: this.sockets })
    this.probe = kafka ?? createProbeKafka(config, log, this.sockets)
    this.consumer = this.kafka.consumer(consumerConfig)
    if (config.deadLetterTopic) {
      this.deadLetter = new DeadLetterProducer(this.kafka, config.deadLetterTopic, metrics, log, {
        maxWaitMs: config.deadLetterMaxWaitMs,
        maxQueuedBytes: config.deadLetterMaxQueuedBytes,
      })
    }
  }

  /** The admin client, connected (its users retry themselves: it retries once). */
  readonly admin = async (): Promise<Admin> => {
    this.adminClient ??= this.kafka.admin({ retry: { retries: 1, initialRetryTime: 200 } })
    await this.adminClient.connect()
    return this.adminClient
  }

  /** Connect the consumer, then the dead-letter producer. */
  async connect(): Promise<void> {
    await this.consumer.connect()
    if (this.deadLetter) await this.deadLetter.connect()
  }

  /** Destroy every socket: kafkajs rejects what is pending at once (a join the coordinator holds). */
  abort(): void {
    this.sockets.abort()
  }

  /**
   * Close every client, in this one order: `beforeLeave` (the loss ledger's last reads, while the
   * partitions are still held), the consumer (kafkajs leaves the group), then the dead-letter
   * producer and the admin client. The first two steps are bounded by `leaveMs`, the last by
   * `othersMs`. Resolves whether the consumer left within its bound.
   */
  async close(o: { beforeLeave: () => Promise<void>; leaveMs: number; othersMs: number }): Promise<{ left: boolean }> {
    const left = (await withTimeout((async () => {
      await o.beforeLeave()
      await this.consumer.disconnect()
      return true
    })(), o.leaveMs)) ?? false
    await withTimeout((async () => {
      await this.deadLetter?.disconnect()
      await this.adminClient?.disconnect()
    })(), o.othersMs)
    return { left }
  }
}
