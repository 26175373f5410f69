import fp from 'fastify-plugin'

/**
 * GET /healthz — liveness: 200 while the process and its consumer loop are alive, 503 once
 *   the consumer crashed for good or stalled. Never depends on the broker being reachable.
 * GET /readyz — readiness: 200 once the group is joined and shutdown has not begun.
 */
export default fp(
  async function healthPlugin(fastify) {
    // The circuit breaker's state is shown, never decides: an open breaker means the handler's
    // downstream is down, which neither a restart (liveness) nor taking the pod out of rotation
    // (readiness) heals (docs/design.md, "The circuit breaker").
    const breaker = () => {
      const state = fastify.consumer.breakerState
      return state === undefined ? {} : { breaker: state }
    }
    fastify.get('/healthz', { logLevel: 'warn' }, async (_request, reply) => {
      const { ok, reason } = fastify.consumer.health()
      reply.code(ok ? 200 : 503)
      return { status: ok ? 'ok' : 'unhealthy', state: fastify.consumer.state, ...breaker(), ...(reason ? { reason } : {}) }
    })
    fastify.get('/readyz', { logLevel: 'warn' }, async (_request, reply) => {
      const ready = fastify.consumer.ready
      reply.code(ready ? 200 : 503)
      return { status: ready ? 'ready' : 'not ready', state: fastify.consumer.state, ...breaker() }
    })
  },
  { name: 'health', dependencies: ['consumer'] },
)
