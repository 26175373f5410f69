/**
 * The kafkajs producer the dead-letter copies are sent with. Idempotent: a batch sent again after
 * its first attempt was written but not answered (the leader died in between) is recognised by
 * the broker (producer id and sequence number) and not written twice. When the producer's sequence
 * can no longer be trusted (a batch given up after an attempt of unknown outcome, or a sequence
 * error from the broker) its slot is retired and a new producer (a new producer id) takes its
 * place; the retired one is disconnected once its last send has returned. A cluster that grants no
 * producer id gets a plain producer instead (one warn line; duplicates possible).
 */
import { Partitioners, type Kafka, type Producer } from 'kafkajs'
import type { Logger } from 'pino'
import { BACKOFF_MAX_MS, BACKOFF_MIN_MS } from './backoff.ts'
import { errorText, grantsNoProducerId } from './produce-errors.ts'

/** One kafkajs producer; replaced (retired) when its sequence numbers cannot be trusted. */
export interface ProducerSlot {
  producer: Producer
  idempotent: boolean
  connected: boolean
  connecting: Promise<void> | undefined
  sends: number
  retired: boolean
}

/** The current producer slot, replaced when its sequence numbers cannot be trusted. */
export class ReplaceableProducer {
  private slot: ProducerSlot
  /** Idempotent producers until the cluster refuses a producer id (then plain ones). */
  private idempotent = true
  private closed = false

  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
    private readonly log: Logger,
  ) {
    this.slot = this.newSlot()
  }

  /**
   * The current producer, connected. A cluster that grants no producer id (no IdempotentWrite
   * permission on a cluster older than Kafka 3.0, or one that names no usable controller, as
   * librdkafka's mock cluster does) gets a producer without idempotence instead, with one warn line.
   */
  async ready(): Promise<ProducerSlot> {
    for (;;) {
      const slot = this.slot
      try {
        await this.connectSlot(slot)
      } catch (err) {
        if (!slot.idempotent || !grantsNoProducerId(err)) throw err
        if (this.idempotent) {
          this.idempotent = false
          this.log.warn(
            { deadLetterTopic: this.topic, error: errorText(err) },
            'dead-letter producer without idempotence: the cluster grants no producer id; a copy sent again after an unanswered attempt may then appear twice',
          )
        }
        this.replace(slot, err, false)
        continue
      }
      if (!slot.retired) return slot
    }
  }

  /** A send on the slot's producer starts: a retired slot is not disconnected under it. */
  sendStarted(slot: ProducerSlot): void {
    slot.sends++
  }

  /** A send on the slot's producer returned: a retired slot's producer is disconnected after its last one. */
  sendEnded(slot: ProducerSlot): void {
    if (--slot.sends === 0 && slot.retired) void slot.producer.disconnect().catch(() => undefined)
  }

  /** A new producer (a new producer id) in place of the slot's, unless it was replaced already or closed. */
  replace(slot: ProducerSlot, error: unknown, log = true): void {
    if (slot !== this.slot || this.closed) return
    if (log) this.log.info({ deadLetterTopic: this.topic, error: errorText(error) }, 'dead-letter producer replaced (a new producer id): its sequence numbers could not be trusted')
    slot.retired = true
    this.slot = this.newSlot()
    if (slot.sends === 0) void slot.producer.disconnect().catch(() => undefined)
  }

  /** No more replacements; disconnect the current producer. */
  close(): Promise<void> {
    this.closed = true
    return this.slot.producer.disconnect()
  }

  private newSlot(): ProducerSlot {
    const producer = this.kafka.producer({
      allowAutoTopicCreation: false,
      // Every copy carries its partition (chosen by TopicPartitions); named so that kafkajs does not warn about its default.
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: this.idempotent,
      maxInFlightRequests: 1,
      // One send() tries twice; the batch is then sent again by the pump with its own back-off,
      // until DEAD_LETTER_MAX_WAIT_MS (the same batch, so the idempotent producer's sequence
      // numbers stay right).
      retry: { retries: 1, initialRetryTime: BACKOFF_MIN_MS, maxRetryTime: BACKOFF_MAX_MS },
    })
    return { producer, idempotent: this.idempotent, connected: false, connecting: undefined, sends: 0, retired: false }
  }

  private connectSlot(slot: ProducerSlot): Promise<void> {
    if (slot.connected) return Promise.resolve()
    slot.connecting ??= slot.producer.connect().then(
      () => {
        slot.connected = true
      },
      (err: unknown) => {
        slot.connecting = undefined
        throw err
      },
    )
    return slot.connecting
  }
}
