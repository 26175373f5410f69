import fp from 'fastify-plugin'
import { Registry } from 'prom-client'
import { createMetrics, type Metrics } from '../metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

export interface MetricsPluginOptions {
  registry?: Registry
}

/** Builds the metrics on a Registry of its own and serves them at GET /metrics. */
export default fp<MetricsPluginOptions>(
  async function metricsPlugin(fastify, opts) {
    const registry = opts.registry ?? new Registry()
    const metrics = createMetrics(registry, { commitMode: fastify.config.commitMode })
    fastify.decorate('metrics', metrics)
    fastify.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    })
    fastify.addHook('onClose', async () => registry.clear())
  },
  { name: 'metrics', dependencies: ['config'] },
)
