/**
 * The chaos producer: streams weather messages at a steady rate, each carrying a unique id
 * (`seq`), and records which ids the cluster acknowledged (acks=all). One send loop per
 * partition, so a partition whose leader is down or frozen stalls only itself.
 */
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs'
import { sleep } from '../kafka-tools.ts'

const STATIONS = ['EGLL', 'LFPG', 'EDDF', 'KJFK', 'RJTT', 'YSSY', 'SBGR', 'FACT']
const TICK_MS = 100

/** The value of message `seq`: the weather payload of the demo, with `seq` as the unique id. */
export function weather(seq: number): string {
  const station = STATIONS[seq % STATIONS.length]!
  return JSON.stringify({
    seq,
    station,
    at: new Date().toISOString(),
    temperatureC: Math.round((10 + 15 * Math.sin(seq / 50)) * 10) / 10,
    humidity: 40 + (seq % 50),
    windKph: seq % 70,
  })
}

/** The key of message `seq`: 97 keys, each on every partition (ORDERING=key runs have that many per partition to interleave). */
export const keyOf = (seq: number): string => `k${seq % 97}`

export class Stream {
  /** Ids whose send was acknowledged: "produced". */
  readonly acked = new Set<number>()
  /** Ids sent at all (a send that failed may still have been written). */
  readonly attempted = new Set<number>()
  /** Sends that failed (timeout, no leader, ...): their ids are not counted as produced. */
  failedSends = 0
  private readonly stallMs: number[] = []
  private stopped = false
  private loops: Array<Promise<void>> = []
  private readonly producer: Producer

  constructor(
    brokers: string[],
    private readonly topic: string,
    private readonly rate: number,
    private readonly partitions: number,
  ) {
    const kafka = new Kafka({
      clientId: 'chaos-producer',
      brokers,
      logLevel: logLevel.NOTHING,
      // A request to a frozen broker must not hold its partition for kafkajs' default 30 s.
      requestTimeout: 8000,
      retry: { retries: 4, initialRetryTime: 200, maxRetryTime: 1000 },
    })
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
  }

  async start(): Promise<void> {
    await this.producer.connect()
    const t0 = Date.now()
    for (let p = 0; p < this.partitions; p++) this.loops.push(this.loop(p, t0))
  }

  /** Partition p gets ids p, p + P, p + 2P, ... (P partitions): unique across the run. */
  private async loop(partition: number, t0: number): Promise<void> {
    const perTick = this.rate / this.partitions / (1000 / TICK_MS)
    let k = 0 // ids of this partition issued so far
    let ticks = 0
    while (!this.stopped) {
      ticks++
      const n = Math.floor(ticks * perTick) - k
      const seqs = Array.from({ length: n }, (_, i) => (k + i) * this.partitions + partition)
      k += n
      if (seqs.length > 0) {
        for (const s of seqs) this.attempted.add(s)
        await this.producer
          .send({ topic: this.topic, acks: -1, timeout: 5000, messages: seqs.map((s) => ({ key: keyOf(s), partition, value: weather(s) })) })
          .then(
            () => seqs.forEach((s) => this.acked.add(s)),
            () => void this.failedSends++, // not acknowledged: not counted as produced (it may still appear)
          )
      }
      const wait = t0 + ticks * TICK_MS - Date.now()
      if (wait > 0) await sleep(wait)
      else if (wait < -2000) {
        this.stallMs.push(-wait)
        // After a stall: carry on at the rate, without a burst (the skipped ids are never sent).
        ticks = Math.floor((Date.now() - t0) / TICK_MS)
        k = Math.floor(ticks * perTick)
      }
    }
  }

  /** Partition loops held more than 2 s by a send (a leader down or frozen, acks=all waiting for the in-sync replicas). */
  stalls(): { count: number; longestMs: number } {
    return { count: this.stallMs.length, longestMs: Math.max(0, ...this.stallMs) }
  }

  async stop(): Promise<void> {
    this.stopped = true
    // A send stuck on a faulty broker must not hold the run: give it 15 s.
    await Promise.race([Promise.all(this.loops), sleep(15_000)])
    await this.producer.disconnect().catch(() => undefined)
  }
}
