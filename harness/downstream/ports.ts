/**
 * A loopback port a server can be killed on and started again on: free now, and outside the
 * kernel's ephemeral range (ip_local_port_range), so that an outgoing connection of any process on
 * the machine cannot take it as its local port while the server is down. A port picked with
 * listen(0) comes from that very range, where the restart could then fail with EADDRINUSE.
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'

/** The kernel's ephemeral port range ([32768, 60999] when it cannot be read). */
export function ephemeralRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] {
  try {
    const [lo, hi] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number)
    if (lo !== undefined && hi !== undefined && Number.isInteger(lo) && Number.isInteger(hi) && lo > 0 && hi >= lo) return [lo, hi]
  } catch {
    // not Linux, or no /proc
  }
  return [32768, 60999]
}

/** Whether 127.0.0.1:port can be listened on now. */
export function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/**
 * The ports to try, in order: random ones between 10000 and the start of the ephemeral range (or,
 * when that range starts too low to leave room, above its end up to 65535).
 */
export function candidatePorts(range: [number, number], count: number, random: () => number = Math.random): number[] {
  const [lo, hi] = range
  const [from, to] = lo - 10_000 >= 1000 ? [10_000, lo - 1] : [hi + 1, 65_535]
  if (to < from) return []
  const out: number[] = []
  for (let i = 0; i < count; i++) out.push(from + Math.floor(random() * (to - from + 1)))
  return out
}

/** A free loopback port outside the ephemeral range. */
export async function stablePort(): Promise<number> {
  for (const port of candidatePorts(ephemeralRange(), 50)) {
    if (await canListen(port)) return port
  }
  throw new Error('no free loopback port outside the ephemeral range after 50 tries')
}
