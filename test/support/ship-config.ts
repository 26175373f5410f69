/**
 * Checks an environment value (a string, as a container receives it) against the service's
 * config schema (src/config/schema.ts), the way @fastify/env's ajv with type coercion reads it:
 * integers and booleans from their string forms, enums, patterns and bounds.
 * Returns a message when the value would stop the service at start, undefined when it is fine.
 */
import { configSchema } from '../../src/config/schema.ts'

interface PropertySchema {
  type?: string
  enum?: readonly string[]
  pattern?: string
  minimum?: number
  maximum?: number
  minLength?: number
  default?: unknown
}

export const properties = configSchema.properties as Record<string, PropertySchema>

export function envValueProblem(name: string, value: string): string | undefined {
  const p = properties[name]
  if (!p) return `${name} is not a variable of src/config/schema.ts`
  if (p.type === 'integer') {
    if (!/^-?\d+$/.test(value)) return `${name}="${value}" is not an integer`
    const n = Number(value)
    if (p.minimum !== undefined && n < p.minimum) return `${name}=${n} is below ${p.minimum}`
    if (p.maximum !== undefined && n > p.maximum) return `${name}=${n} is above ${p.maximum}`
  }
  if (p.type === 'boolean' && !['true', 'false'].includes(value)) return `${name}="${value}" is not true/false`
  if (p.enum && !p.enum.includes(value)) return `${name}="${value}" is not one of ${p.enum.map((e) => `"${e}"`).join(', ')}`
  if (p.pattern && !new RegExp(p.pattern).test(value)) return `${name}="${value}" does not match ${p.pattern}`
  if (p.minLength !== undefined && value.length < p.minLength) return `${name} is shorter than ${p.minLength}`
  return undefined
}

/** The service's default for a variable, as the string a container would receive. */
export function defaultAsEnv(name: string): string | undefined {
  const d = properties[name]?.default
  return d === undefined ? undefined : String(d)
}
