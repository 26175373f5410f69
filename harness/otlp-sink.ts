/**
 * A collector stand-in for the bench's tracing cases and the memory-limit test: an HTTP server on
 * a loopback port that accepts OTLP exports (POST …/v1/traces, JSON or protobuf), reads and
 * discards them, and answers 200 with an empty response of the same encoding. The service's
 * exporter then works as against a live collector: every sampled span is serialized and sent, the
 * export queue drains, and at SIGTERM only the last batch is left to send. Its own work runs in
 * the process that started it, not the service's.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface OtlpSink {
  /** The value for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  endpoint: string
  /** Exports received and their bytes, since the start. */
  stats(): { requests: number; bytes: number }
  close(): Promise<void>
}

export async function startOtlpSink(): Promise<OtlpSink> {
  let requests = 0
  let bytes = 0
  const server: Server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length
    })
    req.on('end', () => {
      requests++
      const json = String(req.headers['content-type'] ?? '').includes('json')
      // An empty ExportTraceServiceResponse: `{}` in JSON, zero bytes in protobuf.
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' })
      res.end(json ? '{}' : undefined)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats: () => ({ requests, bytes }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
