/**
 * `npm run demo -- --downstream`: the downstream the service's webhook handler
 * (examples/webhook/handler.mjs) POSTs each message to, a small HTTP server in the demo's own
 * process, and the key that takes it away and brings it back.
 *
 * Taken away, it closes its listening socket and every open connection: the handler's next POST
 * is refused (ECONNREFUSED), as when a real server is killed. Brought back, it listens on the same
 * port again (a port outside the ephemeral range, harness/downstream/ports.ts, so that no outgoing
 * connection takes it meanwhile). It answers 200 to everything, the probe's HEAD included.
 * Why not harness/downstream's HttpDownstream (a child process, SIGKILLed): the demo wants a line
 * per delivered message at once, and nothing to clean up when it is interrupted; this is smaller.
 */
import http from 'node:http'
import { stablePort } from '../../harness/downstream/ports.ts'
import type { Json } from './format.ts'

export class DemoDownstream {
  /** Times it was taken down. */
  takenDown = 0
  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  /** Listening on 127.0.0.1; `onDelivery` gets each POSTed body (the webhook handler's JSON). */
  static async start(onDelivery: (body: Json) => void): Promise<DemoDownstream> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        if (req.method === 'POST') {
          let body: Json = {}
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json
          } catch {
            // not JSON (not the webhook handler's): shown without its fields
          }
          onDelivery(body)
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : '{"ok":true}')
      })
    })
    const down = new DemoDownstream(server, await stablePort())
    await down.listen()
    return down
  }

  /** Where the webhook handler POSTs (WEBHOOK_URL; its probe is a HEAD of the same URL). */
  get hookUrl(): string {
    return `http://127.0.0.1:${this.port}/hook`
  }
  get up(): boolean {
    return this.server.listening
  }

  /** Take it away (refuse every connection) or bring it back (the same port); resolves when done. */
  async toggle(): Promise<void> {
    if (this.up) {
      this.takenDown++
      await this.close()
    } else await this.listen()
  }

  /** Stop listening and drop every connection (idle and in use). Idempotent. */
  async close(): Promise<void> {
    if (!this.up) return
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeAllConnections()
    await closed
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err)
      this.server.once('error', onError)
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', onError)
        resolve()
      })
    })
  }
}
