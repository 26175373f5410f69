/** Why the launcher could not start a cluster: a stable code, and a message that says what to install. */

export type LauncherErrorCode =
  | 'JAVA_MISSING'
  | 'MVN_MISSING'
  | 'RESOLVE_FAILED'
  | 'KEYTOOL_FAILED'
  | 'FORMAT_FAILED'
  | 'START_FAILED'

/** The launcher could not start a cluster; the message says what is missing and how to get it. */
export class KafkaLauncherError extends Error {
  constructor(
    readonly code: LauncherErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'KafkaLauncherError'
  }
}
