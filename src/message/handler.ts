import { existsSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { IHeaders } from 'kafkajs'
import type { Logger } from 'pino'
import { ConfigError, ErrorCode, HandlerLoadError } from '../errors.ts'
import { printable, type DecodedValue } from './decode.ts'

/** What a handler receives: the message, decoded in VALUE_FORMAT. */
export interface ConsumedMessage {
  topic: string
  partition: number
  /** Offset as a decimal string (Kafka offsets are 64-bit). */
  offset: string
  /** Raw key bytes, or null. */
  key: Buffer | null
  /** json: the parsed value; text: a string; binary: a Buffer; a tombstone: null. */
  value: DecodedValue
  headers: IHeaders
  /** Message timestamp, milliseconds since the epoch, as a string. */
  timestamp: string
}

export interface HandlerContext {
  /** Fires when HANDLER_TIMEOUT_MS passes or the shutdown deadline is reached: stop and return. */
  readonly signal: AbortSignal
  readonly log: Logger
}

/**
 * A message handler. It runs at most once per message (the offset is already committed).
 * A throw or a rejection counts the message as failed; it is never retried. An error whose
 * `code` is `AMO_MESSAGE_REJECTED` (MessageRejectedError in src/errors.ts) says the message itself
 * is at fault; any other failure, and a timeout, is the downstream's.
 */
export type Handler = (message: ConsumedMessage, context: HandlerContext) => unknown

/** What a probe receives. */
export interface ProbeContext {
  /** Fires when the probe should give up (its time limit, or shutdown). */
  readonly signal: AbortSignal
  readonly log: Logger
}

/**
 * The handler module's optional `probe` export: a cheap health check of the downstream the handler
 * calls (`SELECT 1`, a HEAD request). Returns or resolves when the downstream is available; throws
 * or rejects when it is not. It never sees a message.
 */
export type Probe = (context: ProbeContext) => unknown

/** `log`: one `"msg":"consumed"` line per message with topic, partition, offset, key and value. */
export function logHandler(message: ConsumedMessage, { log }: HandlerContext): void {
  const value = Buffer.isBuffer(message.value) ? printable(message.value) : message.value
  log.info(
    { topic: message.topic, partition: message.partition, offset: message.offset, key: printable(message.key), value },
    'consumed',
  )
}

/** `noop`: does nothing (benchmarks, or when only the metrics matter). */
export function noopHandler(): void {}

/** What HANDLER resolves to: the handler, and the module's probe when it exports one. */
export interface HandlerModule {
  handler: Handler
  probe?: Probe | undefined
}

/**
 * Resolve HANDLER: `log`, `noop`, or a path to a module whose default export is the handler (or
 * `module.exports = fn`, or `export const handler`), and whose `probe` export, if any, checks its
 * downstream (or `module.exports = { handler, probe }`).
 */
export async function loadHandler(spec: string, cwd = process.cwd()): Promise<HandlerModule> {
  if (spec === 'log') return { handler: logHandler }
  if (spec === 'noop') return { handler: noopHandler }
  const file = isAbsolute(spec) ? spec : resolve(cwd, spec)
  if (!existsSync(file)) {
    throw new HandlerLoadError(
      ErrorCode.HANDLER_NOT_FOUND,
      `invalid configuration: HANDLER=${JSON.stringify(spec)}: no such file ${file} (use log, noop, or a path to a module)`,
    )
  }
  let mod: Record<string, unknown>
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  } catch (err) {
    // A module that validates its own configuration at load (the examples do) names the variable:
    // the fatal line names it too.
    const own = err as { code?: unknown; variable?: unknown; message?: unknown }
    if (own?.code === ErrorCode.CONFIG_INVALID && typeof own.variable === 'string') {
      throw new ConfigError(own.variable, `invalid configuration: HANDLER=${JSON.stringify(spec)}: ${String(own.message)}`, { cause: err })
    }
    throw new HandlerLoadError(
      ErrorCode.HANDLER_INVALID,
      `invalid configuration: HANDLER=${JSON.stringify(spec)}: the module failed to load: ${(err as Error).message}`,
      { cause: err },
    )
  }
  // ESM default export, or a CommonJS module.exports = fn (seen as default), or `export const handler`.
  const candidate = [mod.default, (mod.default as Record<string, unknown> | undefined)?.default, mod.handler].find(
    (c) => typeof c === 'function',
  )
  if (typeof candidate !== 'function') {
    throw new HandlerLoadError(
      ErrorCode.HANDLER_INVALID,
      `invalid configuration: HANDLER=${JSON.stringify(spec)}: the module's default export is not a function`,
    )
  }
  const def = mod.default as Record<string, unknown> | undefined
  const probe = [mod.probe, typeof def === 'object' || typeof def === 'function' ? def?.probe : undefined].find((c) => typeof c === 'function')
  return { handler: candidate as Handler, probe: probe as Probe | undefined }
}
