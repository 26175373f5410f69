import fastifyEnv from '@fastify/env'
import fp from 'fastify-plugin'
import { toConfigError, toServiceConfig, type ServiceConfig } from '../config/load.ts'
import { configSchema, type EnvConfig } from '../config/schema.ts'

declare module 'fastify' {
  interface FastifyInstance {
    config: ServiceConfig
  }
}

export interface ConfigPluginOptions {
  /** The environment to read (default: process.env). */
  env?: Record<string, string | undefined>
}

/** Validates the environment once (@fastify/env) and decorates `fastify.config`. */
export default fp<ConfigPluginOptions>(
  async function configPlugin(fastify, opts) {
    const env = opts.env ?? process.env
    try {
      await fastify.register(fastifyEnv, { schema: configSchema, data: env, confKey: 'env' })
      fastify.decorate('config', toServiceConfig((fastify as unknown as { env: EnvConfig }).env))
    } catch (err) {
      throw toConfigError(err, env)
    }
    fastify.log.level = fastify.config.logLevel
  },
  { name: 'config' },
)
