/**
 * What the fixture handler test/fixtures/core-check-committed.mjs logs for each message it is
 * handed: the group's committed offset of that partition, asked of the coordinator before it runs.
 * Shared by the strict-sync tests of both tiers (mock and Apache Kafka).
 */
import type { ServiceProcess } from '../../harness/service-process.ts'

export interface Checked {
  partition: number
  offset: string
  committed: number
  ok: boolean
}

export const checked = (svc: ServiceProcess) => svc.consumed() as unknown as Checked[]
