// Child processes that cannot outlive the tests. Each child runs in its own process group, so a
// stop reaches whatever it forked. A group "tied" to this Node process is killed by the exit hook,
// by SIGINT/SIGTERM, and, should Node itself be killed with SIGKILL, by a watchdog shell that
// polls this process and then kills every group recorded in the state folder and removes it.
// An untied group (make dev-up) outlives its creator; its pids are left in the state folder.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code (or null after a signal) when the process ends. */
  readonly exited: Promise<number | null>;
  /** Undefined while running. */
  exitCode(): number | null | undefined;
  /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the whole group at once (a crash, for fault tests); resolves when it has exited. */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const liveGroups = new Set<ProcessGroup>();
let hooksInstalled = false;

function killGroupSync(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const group of liveGroups) group.killNowSync();
  });
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(signal, () => {
      for (const group of liveGroups) group.killNowSync();
      process.exit(code);
    });
  }
}

// Runs detached from us; when our pid disappears it kills the recorded groups and removes the
// state folder (which holds the control plane's certificates and etcd data).
const WATCHDOG = `
parent="$1"; dir="$2"
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
for f in "$dir"/*.pgid; do [ -f "$f" ] && kill -9 "-$(cat "$f")" 2>/dev/null; done
rm -rf "$dir"
`;

export class ProcessGroup {
  private readonly members = new Map<string, ManagedProcess>();
  private watchdog: ChildProcess | undefined;
  private closed = false;

  /**
   * @param stateDir folder for logs and pid files (created if missing)
   * @param tied kill everything when this Node process ends (tests); false for make dev-up
   */
  constructor(
    readonly stateDir: string,
    readonly tied = true,
  ) {
    mkdirSync(stateDir, { recursive: true });
    if (tied) {
      installHooks();
      liveGroups.add(this);
      this.watchdog = spawn('sh', ['-c', WATCHDOG, 'watchdog', String(process.pid), stateDir], {
        detached: true,
        stdio: 'ignore',
      });
      this.watchdog.unref();
    }
  }

  spawn(name: string, command: string, args: string[], opts: SpawnOptions = {}): ManagedProcess {
    if (this.closed) throw new Error(`process group ${this.stateDir} is closed`);
    if (this.members.get(name)?.exitCode() === undefined && this.members.has(name)) {
      throw new Error(`${name} is already running`);
    }
    const logPath = join(this.stateDir, `${name}.log`);
    const log = openSync(logPath, 'a');
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', log, log],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    closeSync(log);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${name}: could not start ${command}`);
    const pidFile = join(this.stateDir, `${name}.pgid`);
    writeFileSync(pidFile, `${pid}\n`);
    if (!this.tied) child.unref();

    let code: number | null | undefined;
    const exited = new Promise<number | null>((resolveExit) => {
      child.once('exit', (exitCode) => {
        code = exitCode;
        // Whatever it forked goes with it.
        killGroupSync(pid, 'SIGKILL');
        if (this.tied) rmSync(pidFile, { force: true });
        resolveExit(exitCode);
      });
      child.once('error', () => {
        code = null;
        resolveExit(null);
      });
    });
    const proc: ManagedProcess = {
      name,
      pid,
      logPath,
      exited,
      exitCode: () => code,
      stop: async (graceMs = 10_000) => {
        if (code !== undefined) return;
        killGroupSync(pid, 'SIGTERM');
        const timer = sleep(graceMs).then(() => 'timeout' as const);
        if ((await Promise.race([exited, timer])) === 'timeout') {
          killGroupSync(pid, 'SIGKILL');
          await exited;
        }
      },
      kill: async () => {
        if (code !== undefined) return;
        killGroupSync(pid, 'SIGKILL');
        await exited;
      },
    };
    this.members.set(name, proc);
    return proc;
  }

  get(name: string): ManagedProcess | undefined {
    return this.members.get(name);
  }

  /** The last lines of a member's log, for error messages. */
  tail(name: string, lines = 20): string {
    try {
      return readFileSync(join(this.stateDir, `${name}.log`), 'utf8')
        .trimEnd()
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '';
    }
  }

  /** Stops members in reverse start order; with `removeState`, deletes the state folder. */
  async stopAll(opts: { removeState?: boolean } = {}): Promise<void> {
    for (const proc of [...this.members.values()].reverse()) await proc.stop();
    this.closed = true;
    liveGroups.delete(this);
    if (this.watchdog?.pid !== undefined) killGroupSync(this.watchdog.pid, 'SIGKILL');
    if (opts.removeState ?? this.tied) rmSync(this.stateDir, { recursive: true, force: true });
  }

  /** Synchronous last resort, for the exit hook. */
  killNowSync(): void {
    for (const proc of this.members.values()) killGroupSync(proc.pid, 'SIGKILL');
    if (this.watchdog?.pid !== undefined) killGroupSync(this.watchdog.pid, 'SIGKILL');
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** True when `pid` is a live process. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the groups an untied ProcessGroup recorded in `stateDir` (make dev-down): SIGTERM, then
 * SIGKILL after `graceMs`, those named in `first` first. Returns the names it stopped.
 */
export async function stopRecorded(
  stateDir: string,
  graceMs = 10_000,
  first: string[] = [],
): Promise<string[]> {
  let files: string[];
  try {
    files = readdirSync(stateDir).filter((f) => f.endsWith('.pgid'));
  } catch {
    return [];
  }
  // Names in `first` go first, in that order (clients before the servers they use).
  const rank = (f: string): number => {
    const i = first.indexOf(f.replace(/\.pgid$/, ''));
    return i < 0 ? first.length : i;
  };
  files.sort((a, b) => rank(a) - rank(b));
  const stopped: string[] = [];
  for (const file of files) {
    const pid = Number(readFileSync(join(stateDir, file), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1 && alive(pid)) {
      killGroupSync(pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (alive(pid) && Date.now() < deadline) await sleep(100);
      if (alive(pid)) killGroupSync(pid, 'SIGKILL');
      stopped.push(file.replace(/\.pgid$/, ''));
    }
    unlinkSync(join(stateDir, file));
  }
  return stopped;
}
