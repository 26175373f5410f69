/**
 * The loss ledger's one read of the group coordinator, through the consumer's admin client
 * (clients.ts, opened on first use): the group's committed offsets of a topic, THEN the group's
 * members and their assignments (judge.ts says why in that order). The admin client retries once;
 * the ledger retries itself.
 */
import { AssignerProtocol, type Admin } from 'kafkajs'
import type { GroupView } from './judge.ts'

/** The group's committed offsets of `topic` (partition -> offset; -1 or absent: none), then the group. */
export type ReadCommitted = (topic: string) => Promise<{ committed: Map<number, number>; group: GroupView }>

export class GroupReader {
  constructor(
    private readonly admin: () => Promise<Admin>,
    private readonly groupId: string,
  ) {}

  readonly read: ReadCommitted = async (topic) => {
    const admin = await this.admin()
    const [res] = await admin.fetchOffsets({ groupId: this.groupId, topics: [topic] })
    const committed = new Map((res?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
    const { groups } = await admin.describeGroups([this.groupId])
    const group = groups[0]
    const members = new Map<string, Record<string, number[]> | undefined>()
    for (const m of group?.members ?? []) {
      const decoded = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null
      members.set(m.memberId, decoded ? (decoded.assignment as Record<string, number[]>) : undefined)
    }
    return { committed, group: { state: group?.state ?? 'Unknown', members } }
  }
}
