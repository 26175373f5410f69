import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { redactConfig } from '../config/load.ts'
import { loadHandler } from '../message/handler.ts'
import { ConsumerService } from '../consumer/service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    consumer: ConsumerService
  }
}

/**
 * Loads the handler (a bad HANDLER stops the start, before any connection), creates the
 * consumer, starts it once the app is ready and shuts it down (drain, final commit, leave the
 * group) when the app closes.
 */
export default fp(
  async function consumerPlugin(fastify) {
    const config = fastify.config
    const log = fastify.log as unknown as Logger
    const handler = await loadHandler(config.handler)
    const consumer = new ConsumerService(config, handler, fastify.metrics, log)
    fastify.decorate('consumer', consumer)

    fastify.addHook('onReady', async () => {
      log.info({ config: redactConfig(config) }, 'starting consumer')
      if (config.commitMode === 'auto') {
        log.warn(
          { autoCommitIntervalMs: config.autoCommitIntervalMs },
          'COMMIT_MODE=auto is at-least-once in practice: a crash re-delivers what was processed since the last auto-commit. Use COMMIT_MODE=sync for at-most-once.',
        )
      }
      consumer.start()
    })
    // Normally server.ts drains the consumer before closing the app (so /readyz can answer 503
    // meanwhile); this covers app.close() called on its own, as tests do.
    fastify.addHook('onClose', async () => {
      await consumer.shutdown('close')
    })
  },
  { name: 'consumer', dependencies: ['config', 'metrics'] },
)
