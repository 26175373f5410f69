/**
 * The dead-letter producer (DEAD_LETTER_TOPIC): a copy of every failed or undecodable message,
 * sent best effort. It never blocks the loop: at most MAX_PENDING sends are in flight, beyond
 * that copies are dropped and counted (consumer_dead_letter_total{result}).
 */
import { Partitioners, type Kafka, type Producer } from 'kafkajs'
import type { Logger } from 'pino'
import type { DeadLetterFn } from '../message/process.ts'
import type { Metrics } from '../metrics.ts'

/** Dead-letter sends in flight before new ones are dropped. */
const MAX_PENDING = 1000

export class DeadLetterProducer {
  private readonly producer: Producer
  private pending = 0

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
  }

  connect(): Promise<void> {
    return this.producer.connect()
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect()
  }

  /** Copy the message to the dead-letter topic with x-amo-* headers naming where it came from and why. */
  readonly send: DeadLetterFn = ({ topic, partition, message }, reason, error) => {
    if (this.pending >= MAX_PENDING) {
      this.metrics.deadLetter.inc({ result: 'dropped' })
      return
    }
    this.pending++
    const headers = {
      ...(message.headers ?? {}),
      'x-amo-source-topic': topic,
      'x-amo-source-partition': String(partition),
      'x-amo-source-offset': message.offset,
      'x-amo-reason': reason,
      'x-amo-error': error instanceof Error ? error.message : String(error),
    }
    this.producer
      .send({ topic: this.topic, messages: [{ key: message.key, value: message.value, headers }] })
      .then(
        () => this.metrics.deadLetter.inc({ result: 'sent' }),
        (err: Error) => {
          this.metrics.deadLetter.inc({ result: 'failed' })
          this.log.warn({ topic, partition, offset: message.offset, error: err.message }, 'dead-letter send failed')
        },
      )
      .finally(() => this.pending--)
  }
}
