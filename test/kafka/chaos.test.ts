/**
 * The short chaos cases on a real three-node Apache Kafka KRaft cluster (KAFKA_VERSION picks the
 * version; scripts/chaos.ts and docs/chaos.md hold the full suite): service processes in one
 * group, scale 1 -> 3 -> 1, SIGKILL + restart of an instance, SIGKILL of the node that is the
 * group coordinator and its restart, SIGTERM, in strict sync mode (COMMIT_WINDOW=1, and 20 with
 * ORDERING=key). Never a duplicate; loss within the bound: COMMIT_WINDOW per partition the killed
 * instance owned, plus COMMIT_WINDOW per partition for the coordinator's death (a commit written
 * by the dying node whose answer never came: harness/chaos/tally.ts), and counted by the loss
 * ledger. No test-broker workaround. The cases: test/support/chaos-cases.ts (the mock runs them in
 * chaos.test.ts).
 */
import { chaosCases } from '../support/chaos-cases.ts'

chaosCases('kafka')
