/**
 * The loss ledger's one read of the group coordinator, through an admin client created on first
 * use: the group's committed offsets of a topic, THEN the group's members and their assignments
 * (judge.ts says why in that order). The admin client retries once; the ledger retries itself.
 */
import { AssignerProtocol, type Admin, type Kafka } from 'kafkajs'
import type { GroupView } from './judge.ts'

/** The group's committed offsets of `topic` (partition -> offset; -1 or absent: none), then the group. */
export type ReadCommitted = (topic: string) => Promise<{ committed: Map<number, number>; group: GroupView }>

export class GroupReader {
  private admin: Admin | undefined

  constructor(
    private readonly kafka: Kafka,
    private readonly groupId: string,
  ) {}

  readonly read: ReadCommitted = async (topic) => {
    this.admin ??= this.kafka.admin({ retry: { retries: 1, initialRetryTime: 200 } })
    await this.admin.connect()
    const [res] = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [topic] })
    const committed = new Map((res?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
    const { groups } = await this.admin.describeGroups([this.groupId])
    const group = groups[0]
    const members = new Map<string, Record<string, number[]> | undefined>()
    for (const m of group?.members ?? []) {
      const decoded = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null
      members.set(m.memberId, decoded ? (decoded.assignment as Record<string, number[]>) : undefined)
    }
    return { committed, group: { state: group?.state ?? 'Unknown', members } }
  }

  /** Close the admin client, if one was opened. */
  async close(): Promise<void> {
    await this.admin?.disconnect()
  }
}
