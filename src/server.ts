/**
 * The process: build the app, listen, and shut down gracefully on SIGTERM/SIGINT
 * (close-with-grace; a second signal forces exit 1). Exit codes: 0 clean shutdown,
 * 1 bad configuration, shutdown past SHUTDOWN_TIMEOUT_MS, or a fatal error.
 */
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { AmoError } from './errors.ts'
import { createLogger } from './logger.ts'

/** Extra time close-with-grace allows past SHUTDOWN_TIMEOUT_MS before it force-exits. */
const HARD_STOP_MARGIN_MS = 3000

async function main(): Promise<void> {
  const log = createLogger()
  let app
  try {
    app = await buildApp({ logger: log })
    await app.ready()
  } catch (err) {
    // Bad configuration (or HANDLER): one line naming the variable, before any connection.
    const e = err as AmoError
    log.fatal({ code: e.code ?? 'AMO_START_FAILED', variable: (e as { variable?: string }).variable }, e.message)
    process.exit(1)
  }

  const { shutdownTimeoutMs, port, host } = app.config
  closeWithGrace(
    {
      delay: shutdownTimeoutMs + HARD_STOP_MARGIN_MS,
      logger: { error: (msg: unknown) => log.error(msg instanceof Error ? { err: msg } : {}, String(msg)) },
      onSecondSignal: (signal: string) => {
        log.error({ signal }, 'second signal: exiting now')
        process.exit(1)
      },
    },
    async ({ signal, err }) => {
      if (err) log.error({ err }, 'fatal error; shutting down')
      const result = await app.consumer.shutdown(signal ?? (err ? 'error' : 'exit'))
      await app.close()
      if (!result.clean) {
        log.warn({ abandoned: result.abandoned, durationMs: result.durationMs }, 'shutdown finished, not clean: exit 1')
        throw result.error
      }
      log.info({ durationMs: result.durationMs }, 'shutdown complete: exit 0')
    },
  )

  await app.listen({ port, host })
}

void main()
