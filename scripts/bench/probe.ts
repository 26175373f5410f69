/**
 * The broker's raw round trips, on a bare TCP connection (no client library in the way):
 * ApiVersions v0, and OffsetCommit v2 of every partition in one request — the request the
 * service's commit batcher sends when every partition waits for its commit at once. The commit
 * goes to the group coordinator (FindCoordinator v0) as a "simple" commit (generation -1, no
 * member id) of a probe group of its own. Each is sent 30 times to warm up, then 100 times: p50. The window-1 bound is partitions ÷ the commit round
 * trip: each partition can start one message per acknowledged commit.
 */
import { connect, type Socket } from 'node:net'
import type { RttProbe } from './types.ts'
import { percentile, sleep } from './stats.ts'

const CLIENT_ID = Buffer.from('amo-bench-probe')

/** One Kafka connection that sends a request and waits for its response (one at a time). */
class Wire {
  private buf = Buffer.alloc(0)
  private waiting: ((body: Buffer) => void) | undefined
  private correlation = 0
  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk])
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readInt32BE(0)) {
        const size = this.buf.readInt32BE(0)
        const body = this.buf.subarray(8, 4 + size) // past the size and the correlation id
        this.buf = this.buf.subarray(4 + size)
        const w = this.waiting
        this.waiting = undefined
        w?.(body)
      }
    })
  }

  static async open(hostPort: string): Promise<Wire> {
    const i = hostPort.lastIndexOf(':')
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) }, () => resolve(s))
      s.once('error', reject)
    })
    socket.setNoDelay(true)
    return new Wire(socket)
  }

  request(apiKey: number, version: number, body: Buffer): Promise<Buffer> {
    const head = Buffer.alloc(2 + 2 + 4 + 2)
    head.writeInt16BE(apiKey, 0)
    head.writeInt16BE(version, 2)
    head.writeInt32BE(this.correlation++, 4)
    head.writeInt16BE(CLIENT_ID.length, 8)
    const size = Buffer.alloc(4)
    size.writeInt32BE(head.length + CLIENT_ID.length + body.length, 0)
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`probe: no answer to api ${apiKey}`)), 10_000)
      this.waiting = (b) => {
        clearTimeout(timer)
        resolve(b)
      }
      this.socket.write(Buffer.concat([size, head, CLIENT_ID, body]))
    })
  }

  close(): void {
    this.socket.destroy()
  }
}

const str = (s: string): Buffer => {
  const b = Buffer.from(s)
  const l = Buffer.alloc(2)
  l.writeInt16BE(b.length, 0)
  return Buffer.concat([l, b])
}
const i16 = (v: number) => {
  const b = Buffer.alloc(2)
  b.writeInt16BE(v, 0)
  return b
}
const i32 = (v: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(v, 0)
  return b
}
const i64 = (v: bigint) => {
  const b = Buffer.alloc(8)
  b.writeBigInt64BE(v, 0)
  return b
}

/** FindCoordinator v0 for a group: host:port of its coordinator (retried while it is not available yet). */
async function findCoordinator(bootstrap: string, group: string): Promise<string> {
  const wire = await Wire.open(bootstrap)
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      const r = await wire.request(10, 0, str(group))
      const error = r.readInt16BE(0)
      if (error === 0) {
        const hostLen = r.readInt16BE(6)
        const host = r.subarray(8, 8 + hostLen).toString()
        const port = r.readInt32BE(8 + hostLen)
        return `${host}:${port}`
      }
      await sleep(100) // COORDINATOR_NOT_AVAILABLE while __consumer_offsets is being created
    }
    throw new Error(`probe: no coordinator for group ${group}`)
  } finally {
    wire.close()
  }
}

/** OffsetCommit v2 body: every partition of `topic` at `offset`, simple commit (generation -1). */
function offsetCommitBody(group: string, topic: string, partitions: number, offset: number): Buffer {
  const parts: Buffer[] = [str(group), i32(-1), str(''), i64(-1n), i32(1), str(topic), i32(partitions)]
  for (let p = 0; p < partitions; p++) parts.push(i32(p), i64(BigInt(offset)), i16(-1))
  return Buffer.concat(parts)
}

/** The first non-zero error code in an OffsetCommit v0-v2 response body, or 0. */
function offsetCommitError(r: Buffer): number {
  let o = 0
  const topics = r.readInt32BE(o)
  o += 4
  for (let t = 0; t < topics; t++) {
    o += 2 + r.readInt16BE(o)
    const parts = r.readInt32BE(o)
    o += 4
    for (let p = 0; p < parts; p++) {
      const err = r.readInt16BE(o + 4)
      if (err !== 0) return err
      o += 6
    }
  }
  return 0
}

export async function probeRtt(bootstrap: string, topic: string, partitions: number, samples = 100, warmup = 30): Promise<RttProbe> {
  const wire = await Wire.open(bootstrap)
  const api: number[] = []
  try {
    for (let i = 0; i < warmup + samples; i++) {
      const t = performance.now()
      await wire.request(18, 0, Buffer.alloc(0))
      if (i >= warmup) api.push(performance.now() - t)
    }
  } finally {
    wire.close()
  }
  const group = `amo-bench-rtt-probe-${process.pid}-${Date.now()}`
  const coordinator = await Wire.open(await findCoordinator(bootstrap, group))
  const commit: number[] = []
  try {
    for (let i = 0, retries = 0; i < warmup + samples; i++) {
      const t = performance.now()
      const r = await coordinator.request(8, 2, offsetCommitBody(group, topic, partitions, i))
      const err = offsetCommitError(r)
      if (err !== 0) {
        if ((err === 14 || err === 15 || err === 16) && retries++ < 100) {
          await sleep(100) // coordinator loading / not available / moved: try again
          i--
          continue
        }
        throw new Error(`probe: OffsetCommit failed with error code ${err}`)
      }
      if (i >= warmup) commit.push(performance.now() - t)
    }
  } finally {
    coordinator.close()
  }
  return { apiVersionsMs: percentile(api, 0.5), commitMs: percentile(commit, 0.5) }
}
