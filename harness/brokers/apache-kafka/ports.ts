/** The loopback ports of one node, each picked free by the OS. */
import net from 'node:net'

export interface Ports {
  plain: number
  controller: number
  sasl?: number
  ssl?: number
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}
