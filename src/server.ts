/**
 * The process: build the app, listen, start the consumer, and shut down gracefully on
 * SIGTERM/SIGINT (close-with-grace; a second signal forces exit 1).
 *
 * Exit codes, and the last line each one is logged with:
 *   0  shutdown complete: nothing committed was left unprocessed ("shutdown complete: exit 0")
 *   1  bad configuration or HANDLER, or the server could not listen ("cannot start: …"); nothing
 *      was connected, so nothing is committed or left
 *   1  committed messages left unprocessed at SHUTDOWN_TIMEOUT_MS
 *      ("shutdown finished, not clean: exit 1")
 *   1  a fatal error (uncaught exception) while running, after the same graceful shutdown
 *      ("shutdown finished after a fatal error: exit 1"), a second signal, or the hard stop
 * The line and the code always agree: this module is the only place that calls process.exit.
 */
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildApp } from './app.ts'
import { ErrorCode, ListenError, type AmoError } from './errors.ts'
import { createLogger } from './logger.ts'
import { logWarnings } from './warnings.ts'

/** Extra time close-with-grace allows past SHUTDOWN_TIMEOUT_MS before it force-exits. */
const HARD_STOP_MARGIN_MS = 3000

/** The logger writes synchronously (logger.ts), so every line is out before the exit. */
function exit(code: 0 | 1): never {
  process.exit(code)
}

/** One fatal line saying what could not start, then exit 1. Nothing was connected yet. */
function cannotStart(log: Logger, err: unknown): never {
  const e = err as AmoError & { variable?: string; host?: string; port?: number }
  log.fatal(
    { code: e.code ?? ErrorCode.START_FAILED, variable: e.variable, host: e.host, port: e.port, exitCode: 1, ...(e.code ? {} : { err }) },
    `cannot start: ${e.message} (exit 1)`,
  )
  exit(1)
}

async function main(log: Logger): Promise<void> {
  let app: FastifyInstance
  try {
    // Bad configuration or HANDLER throws here, before any connection.
    app = await buildApp({ logger: log, startConsumer: false })
    await app.ready()
  } catch (err) {
    cannotStart(log, err)
  }

  const { shutdownTimeoutMs, port, host } = app.config
  const delay = shutdownTimeoutMs + HARD_STOP_MARGIN_MS
  const graceful = closeWithGrace(
    {
      delay,
      // close-with-grace logs through this only on its way to exit 1 (its fn threw, or a second error).
      logger: {
        error: (msg: unknown) =>
          log.error(msg instanceof Error ? { err: msg, exitCode: 1 } : { exitCode: 1 }, `${msg instanceof Error ? msg.message : String(msg)}: exit 1`),
      },
      onSecondSignal: (signal: string) => {
        log.error({ signal, exitCode: 1 }, 'second signal: exit 1 now')
        exit(1)
      },
      onTimeout: (ms: number) => {
        log.error({ delayMs: ms, exitCode: 1 }, `shutdown did not finish within ${ms} ms: exit 1`)
        exit(1)
      },
    },
    async ({ signal, err }) => {
      if (err) log.fatal({ err }, 'fatal error: shutting down')
      const result = await app.consumer.shutdown(signal ?? (err ? 'error' : 'exit'))
      await app.close().catch((e: unknown) => log.error({ err: e }, 'closing the HTTP server failed'))
      if (err) {
        log.fatal({ durationMs: result.durationMs, clean: result.clean, exitCode: 1 }, 'shutdown finished after a fatal error: exit 1')
        exit(1)
      }
      if (!result.clean) {
        log.warn(
          { code: (result.error as AmoError | undefined)?.code, error: result.error?.message, abandoned: result.abandoned, durationMs: result.durationMs, exitCode: 1 },
          'shutdown finished, not clean: exit 1',
        )
        exit(1)
      }
      log.info({ durationMs: result.durationMs, exitCode: 0 }, 'shutdown complete: exit 0')
      exit(0)
    },
  )

  try {
    await app.listen({ port, host })
  } catch (err) {
    // Port in use (or the address not available): the consumer has not started, so there is
    // nothing to drain, commit or leave. Close what was built and say what failed.
    graceful.uninstall()
    await app.close().catch(() => undefined)
    cannotStart(log, new ListenError(host, port, err))
  }
  // Only now, with the HTTP server up, does the service connect to Kafka.
  app.startConsumer()
}

const log = createLogger()
logWarnings(log)
main(log).catch((err: unknown) => cannotStart(log, err))
