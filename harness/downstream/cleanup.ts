/**
 * What a downstream server leaves behind is removed whatever happens to this process: the exit
 * hooks of the Kafka launcher (exit, SIGINT/SIGTERM/SIGHUP) call `killNow()` of every live server,
 * and a watchdog process (the launcher's watchdog.mjs) SIGKILLs the server's processes and removes
 * its directory when this process dies abruptly (SIGKILL). One set of signal handlers for both
 * harnesses: two would each leave the signal to the other.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { installHooks, liveClusters } from '../brokers/apache-kafka/exit-hooks.ts'

const WATCHDOG = fileURLToPath(new URL('../brokers/apache-kafka/watchdog.mjs', import.meta.url))

/** A server that must not outlive this process. */
export interface Disposable {
  /** Synchronous: SIGKILL what runs, remove what can be removed. */
  killNow(): void
}

export function register(server: Disposable): void {
  installHooks()
  liveClusters.add(server)
}

export function unregister(server: Disposable): void {
  liveClusters.delete(server)
}

/** A watchdog of its own for one server: tell it pids and directories (`+pid N`, `-dir PATH`). */
export class Watchdog {
  private readonly child: ChildProcess

  constructor() {
    this.child = spawn(process.execPath, [WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'] })
    this.child.unref()
    ;(this.child.stdin as unknown as { unref?: () => void }).unref?.()
    this.child.stdin!.on('error', () => {})
  }

  watch(kind: 'pid' | 'dir', value: number | string): void {
    if (this.child.stdin?.writable) this.child.stdin.write(`+${kind} ${value}\n`)
  }

  forget(kind: 'pid' | 'dir', value: number | string): void {
    if (this.child.stdin?.writable) this.child.stdin.write(`-${kind} ${value}\n`)
  }

  /** Everything already cleaned up: the watchdog exits (it kills and removes what is still listed). */
  close(): void {
    this.child.stdin?.end()
  }
}
