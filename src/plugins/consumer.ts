import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { redactConfig } from '../config/load.ts'
import { loadHandler } from '../message/handler.ts'
import { COMMIT_MODE_BEHAVIOUR } from '../consumer/commit-modes.ts'
import { ConsumerService } from '../consumer/service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    consumer: ConsumerService
    /** Start the consumer (idempotent). Called on ready unless `autoStart: false`. */
    startConsumer: () => void
  }
}

export interface ConsumerPluginOptions {
  /**
   * Start the consumer when the app is ready (default true: in-process use). The server passes
   * false and starts it once it listens, so a start-up failure (port in use) happens before any
   * connection to Kafka.
   */
  autoStart?: boolean
}

/**
 * Loads the handler (a bad HANDLER stops the start, before any connection), creates the
 * consumer, starts it once the app is ready (or when the server calls startConsumer) and shuts
 * it down (drain, final commit, leave the group) when the app closes.
 */
export default fp<ConsumerPluginOptions>(
  async function consumerPlugin(fastify, opts) {
    const config = fastify.config
    const log = fastify.log as unknown as Logger
    const module = await loadHandler(config.handler)
    const consumer = new ConsumerService(config, module, fastify.metrics, log)
    fastify.decorate('consumer', consumer)

    let started = false
    fastify.decorate('startConsumer', () => {
      if (started || consumer.state !== 'idle') return // started already, or shut down before it started
      started = true
      log.info({ config: redactConfig(config) }, 'starting consumer')
      // async and auto give up the at-most-once rule (the ungated path): each says what it costs.
      const warning = COMMIT_MODE_BEHAVIOUR[config.commitMode].startWarning
      if (warning) log.warn({ commitMode: config.commitMode, ...(config.commitMode === 'auto' ? { autoCommitIntervalMs: config.autoCommitIntervalMs } : {}) }, warning)
      consumer.start()
    })
    if (opts.autoStart !== false) fastify.addHook('onReady', async () => fastify.startConsumer())
    // Normally server.ts drains the consumer before closing the app (so /readyz can answer 503
    // meanwhile); this covers app.close() called on its own, as tests do.
    fastify.addHook('onClose', async () => {
      await consumer.shutdown('close')
    })
  },
  { name: 'consumer', dependencies: ['config', 'metrics'] },
)
