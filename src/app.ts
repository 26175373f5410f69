/**
 * The application factory: one plugin per concern. Tests build it in-process and use
 * `inject`; server.ts builds it, listens and owns the process.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import configPlugin from './plugins/config.ts'
import consumerPlugin from './plugins/consumer.ts'
import healthPlugin from './plugins/health.ts'
import metricsPlugin from './plugins/metrics.ts'
import tracingPlugin from './plugins/tracing.ts'

export interface BuildAppOptions {
  /** Environment to configure from (default: process.env). */
  env?: Record<string, string | undefined>
  logger: Logger
  registry?: Registry
  /** Start the consumer when the app is ready (default true); server.ts starts it after listen. */
  startConsumer?: boolean
}

export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: opts.logger })
  await app.register(configPlugin, opts.env ? { env: opts.env } : {})
  await app.register(metricsPlugin, opts.registry ? { registry: opts.registry } : {})
  await app.register(tracingPlugin)
  await app.register(consumerPlugin, { autoStart: opts.startConsumer !== false })
  await app.register(healthPlugin)
  return app as unknown as FastifyInstance
}
