import { pino, type DestinationStream, type Logger } from 'pino'

/** pino JSON on stdout; SASL secrets are redacted wherever they would appear. */
export function createLogger(destination?: DestinationStream): Logger {
  const level = process.env.LOG_LEVEL ?? 'info'
  return pino(
    {
      level: pino.levels.values[level] !== undefined || level === 'silent' ? level : 'info',
      base: { service: 'amo-consumer', pid: process.pid },
      redact: {
        paths: ['config.sasl.password', 'sasl.password', 'KAFKA_SASL_PASSWORD', '*.KAFKA_SASL_PASSWORD', 'password', '*.password'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  )
}
