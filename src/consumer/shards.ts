/**
 * ORDERING reduced to one shard per message: messages of one shard are handed over in offset
 * order, one at a time; different shards run at once.
 *
 *   partition  one shard, the partition: one message at a time, in offset order
 *   key        a shard per key; messages without a key (null) are one shard of their own: they keep
 *              their relative order, because nothing says they may be reordered
 *   unordered  every message its own shard: any covered message may start
 *
 * The dispatcher (dispatcher.ts) adds each message once it is covered, takes those whose shard is
 * free, and reports each finished one. Messages are added in offset order.
 */
import type { KafkaMessage } from 'kafkajs'
import type { Ordering } from '../config/schema.ts'

export interface Shards {
  /** Message k is covered: ready when its shard is free, else queued behind its shard. */
  add(k: number): void
  /** Messages ready to start (shard free). */
  readonly ready: number
  /** Covered messages not started yet: ready, or behind their shard. */
  readonly queued: number
  /** The next ready message (callers check `ready` first). */
  take(): number
  /** Message k finished: its shard is free for its next message. */
  done(k: number): void
}

export function shardsFor(ordering: Ordering, messages: readonly KafkaMessage[]): Shards {
  switch (ordering) {
    case 'partition':
      return new PartitionShard()
    case 'key':
      return new KeyShards(messages)
    case 'unordered':
      return new UnorderedShards()
  }
}

/** ORDERING=partition: one shard. No queue needed: the next message is the one after the last taken. */
export class PartitionShard implements Shards {
  private added = -1 // the highest message added
  private nextToTake = -1
  private busy = false

  add(k: number): void {
    if (this.nextToTake < 0) this.nextToTake = k
    this.added = k
  }

  get ready(): number {
    return !this.busy && this.nextToTake >= 0 && this.nextToTake <= this.added ? 1 : 0
  }

  get queued(): number {
    return this.nextToTake < 0 ? 0 : this.added - this.nextToTake + 1
  }

  take(): number {
    this.busy = true
    return this.nextToTake++
  }

  done(): void {
    this.busy = false
  }
}

/** The key of messages without one: a value no Buffer key can take. */
const NO_KEY = Symbol('no key')
type KeyId = string | symbol

/** ORDERING=key: a shard per key (the ShardManager of Confluent's Parallel Consumer, within one batch). */
export class KeyShards implements Shards {
  private readonly readyList: number[] = []
  private head = 0
  /** Covered, behind an earlier message of the same key. */
  private readonly waiting = new Map<KeyId, number[]>()
  /** Keys with a message ready or running. */
  private readonly busyKeys = new Set<KeyId>()
  /** keys[k]: message k's key, decoded once when it is added. */
  private readonly keys: KeyId[] = []
  private waitingCount = 0

  constructor(private readonly messages: readonly KafkaMessage[]) {}

  add(k: number): void {
    const raw = this.messages[k]!.key
    const key: KeyId = raw === null || raw === undefined ? NO_KEY : raw.toString('latin1')
    this.keys[k] = key
    if (this.busyKeys.has(key)) {
      const q = this.waiting.get(key)
      if (q) q.push(k)
      else this.waiting.set(key, [k])
      this.waitingCount++
    } else {
      this.busyKeys.add(key)
      this.readyList.push(k)
    }
  }

  get ready(): number {
    return this.readyList.length - this.head
  }

  get queued(): number {
    return this.ready + this.waitingCount
  }

  take(): number {
    const k = this.readyList[this.head++]!
    if (this.head > 1024 && this.head * 2 > this.readyList.length) {
      this.readyList.splice(0, this.head)
      this.head = 0
    }
    return k
  }

  done(k: number): void {
    const key = this.keys[k]!
    const q = this.waiting.get(key)
    if (q && q.length > 0) {
      this.readyList.push(q.shift()!)
      this.waitingCount--
      if (q.length === 0) this.waiting.delete(key)
    } else this.busyKeys.delete(key)
  }
}

/** ORDERING=unordered: every message its own shard. */
export class UnorderedShards implements Shards {
  private readonly readyList: number[] = []
  private head = 0

  add(k: number): void {
    this.readyList.push(k)
  }

  get ready(): number {
    return this.readyList.length - this.head
  }

  get queued(): number {
    return this.ready
  }

  take(): number {
    const k = this.readyList[this.head++]!
    if (this.head > 1024 && this.head * 2 > this.readyList.length) {
      this.readyList.splice(0, this.head)
      this.head = 0
    }
    return k
  }

  done(): void {}
}
