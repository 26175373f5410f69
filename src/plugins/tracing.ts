import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { startTracing, type Tracing } from '../tracing/sdk.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The OpenTelemetry SDK, or undefined when OTEL_TRACES_EXPORTER=none. */
    tracing: Tracing | undefined
  }
}

/**
 * Starts the tracing SDK (OTEL_TRACES_EXPORTER) before the consumer exists, and flushes and
 * stops it when the app closes: after the consumer's shutdown (its onClose hook, registered
 * later, runs first), so the spans of the last messages are exported.
 */
export default fp(
  async function tracingPlugin(fastify) {
    const tracing = startTracing(fastify.config.tracing, fastify.log as unknown as Logger, fastify.config.groupId)
    fastify.decorate('tracing', tracing)
    if (tracing) fastify.addHook('onClose', async () => tracing.shutdown())
  },
  { name: 'tracing', dependencies: ['config'] },
)
