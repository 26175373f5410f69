import type { ValueFormat } from '../config/schema.ts'
import { DecodeError } from '../errors.ts'

/** A decoded value: parsed JSON, a string, the raw bytes, or null for a tombstone. */
export type DecodedValue = unknown

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Decode a message value in the configured format. A null value (a tombstone) decodes to null
 * in every format. Throws DecodeError for invalid UTF-8 (json, text) or JSON that does not parse.
 */
export function createDecoder(format: ValueFormat): (value: Buffer | null) => DecodedValue {
  switch (format) {
    case 'binary':
      return (value) => value
    case 'text':
      return (value) => (value === null ? null : decodeUtf8(value))
    case 'json':
      return (value) => {
        if (value === null) return null
        const text = decodeUtf8(value)
        try {
          return JSON.parse(text) as unknown
        } catch (err) {
          throw new DecodeError(`value is not valid JSON: ${(err as Error).message}`, { cause: err })
        }
      }
  }
}

function decodeUtf8(value: Buffer): string {
  try {
    return utf8.decode(value)
  } catch (err) {
    throw new DecodeError('value is not valid UTF-8', { cause: err })
  }
}

/** Render bytes for a log line: the text when it is valid UTF-8, else base64. */
export function printable(value: Buffer | null | undefined): string | null {
  if (value == null) return null
  try {
    return utf8.decode(value)
  } catch {
    return `base64:${value.toString('base64')}`
  }
}
