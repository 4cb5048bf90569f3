/**
 * An exclusive lock on a store directory: a `LOCK` file created with O_EXCL that names the owning
 * process. Node has no flock/fcntl locks without native code, so a lock left by a crashed
 * process must be recognised as stale and taken over. It is stale when it was written on this
 * host and its process is gone: the machine has rebooted since (Linux boot id), or no process has
 * its pid, or the process with its pid started at another time than the one that wrote it (a
 * reused pid — a restarted container's hub is often pid 1 again). A takeover renames the stale
 * file away first, so two processes taking over at once cannot both win. A lock from another
 * host (a shared volume) is never taken over.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'LOCK';

export class StoreLockedError extends Error {
  override readonly name = 'StoreLockedError';
}

interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  /** Linux: /proc/sys/kernel/random/boot_id. */
  bootId?: string;
  /** Linux: the process's start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  processStart?: string;
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const j = JSON.parse(text) as Partial<LockInfo>;
    if (typeof j.pid === 'number' && Number.isInteger(j.pid) && j.pid > 0 && typeof j.hostname === 'string') {
      return {
        pid: j.pid,
        hostname: j.hostname,
        startedAt: String(j.startedAt),
        ...(typeof j.bootId === 'string' ? { bootId: j.bootId } : {}),
        ...(typeof j.processStart === 'string' ? { processStart: j.processStart } : {}),
      };
    }
  } catch {
    // fall through: unreadable
  }
  return undefined;
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) ", fields start at 3 (state); starttime is field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `holder` (on this host) is still running. */
function holderRunning(holder: LockInfo, me: LockInfo): boolean {
  if (holder.bootId && me.bootId && holder.bootId !== me.bootId) return false;
  if (holder.pid !== me.pid && !alive(holder.pid)) return false;
  if (holder.processStart) {
    const now = holder.pid === me.pid ? me.processStart : processStart(holder.pid);
    if (now !== undefined && now !== holder.processStart) return false;
  }
  return true;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function tryCreate(path: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface DirectoryLock {
  readonly path: string;
  release(): void;
}

/** Takes the lock on `dir`, or throws a `StoreLockedError` that names the process holding it. */
export function lockDirectory(dir: string): DirectoryLock {
  const path = join(dir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  const boot = bootId();
  const start = processStart(process.pid);
  if (boot) me.bootId = boot;
  if (start) me.processStart = start;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(path, me)) return { path, release: () => releaseLock(path, me) };
    const text = readText(path);
    if (text === undefined) continue; // released meanwhile
    const holder = parseLock(text);
    const running = holder !== undefined && holder.hostname === me.hostname && holderRunning(holder, me);
    if (running && holder.pid === me.pid) {
      throw new StoreLockedError(`store directory ${dir} is already open in this process (pid ${process.pid}); close it first`);
    }
    if (!holder || holder.hostname !== me.hostname || running) {
      const who = holder ? `process ${holder.pid} on ${holder.hostname} (since ${holder.startedAt})` : 'another process (unreadable lock file)';
      throw new StoreLockedError(`store directory ${dir} is in use by ${who}: lock file ${path}. Only one hub may use a store directory; if that process is gone, delete the lock file.`);
    }
    // Stale: its process is gone. Move it aside and check that what moved is the file we judged.
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    if (readText(aside) !== text) {
      // Someone else took over between our read and our rename: put their lock back.
      try {
        linkSync(aside, path);
      } catch {
        // a third process holds the name now; either way the directory is taken
      }
      unlinkSync(aside);
      throw new StoreLockedError(`store directory ${dir} was just locked by another process: lock file ${path}`);
    }
    unlinkSync(aside);
  }
  throw new StoreLockedError(`could not take the lock file ${path}: it keeps changing`);
}

function releaseLock(path: string, me: LockInfo): void {
  const holder = parseLock(readText(path) ?? '');
  if (holder && holder.pid === me.pid && holder.hostname === me.hostname && holder.startedAt === me.startedAt) unlinkSync(path);
}
