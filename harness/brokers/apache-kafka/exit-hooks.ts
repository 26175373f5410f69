/**
 * Cleanup of every live cluster when this process goes: an exit hook and SIGINT/SIGTERM/SIGHUP
 * handlers that kill the JVMs synchronously (the watchdog covers SIGKILL).
 */

/** Clusters started and not yet stopped. */
export const liveClusters = new Set<{ killNow(): void }>()
let hooksInstalled = false
export function installHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.once('exit', () => {
    for (const k of liveClusters) k.killNow()
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      // Somebody else handles this signal (the CLI, a test runner): they stop the clusters, and
      // the exit hook and the watchdog back them up.
      if (process.listenerCount(sig) > 1) return
      for (const k of liveClusters) k.killNow()
      process.removeListener(sig, onSignal)
      process.kill(process.pid, sig)
    }
    process.on(sig, onSignal)
  }
}
