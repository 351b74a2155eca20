/**
 * Who holds a lease on the SQLite file, and whether that holder is still alive.
 *
 * A lease's `owner` is the lane that holds it, written as JSON with the process behind the lane:
 * its host, its pid and the process's start time. A consumer on the same host can then tell
 * that a holder died (SIGKILL, OOM killer) and take its jobs back at once, instead of waiting
 * for the lease to run out. The start time is what makes this safe: pids are reused, so "a
 * process with that pid exists" does not mean the holder lives; "a process with that pid
 * started at that moment exists" does.
 *
 * The holder lives in the owner string rather than in columns of its own so that a process of
 * an earlier version sharing the file (a rolling upgrade) cannot leave a stale holder beside a
 * lease it took: its owners are plain UUIDs, which parse as no holder and are left to expire.
 */

import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** The process holding a lease. */
export interface Holder {
  /** `os.hostname()`, plus the pid namespace on Linux: pids mean nothing across namespaces. */
  readonly host: string;
  readonly pid: number;
  /** Start time in clock ticks since boot (`/proc/<pid>/stat` field 22); null without /proc. */
  readonly start: number | null;
}

/** What `/proc/<pid>/stat` says of a pid: its state and start time, no such process, or nothing known. */
export type ProcStat = { readonly state: string; readonly start: number } | 'missing' | 'unknown';

const HAS_PROC = existsSync('/proc/self/stat');

/** Reads a process's state and start time from /proc; 'unknown' on a platform without it. */
export function readProcStat(pid: number | 'self'): ProcStat {
  if (!HAS_PROC) return 'unknown';
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? 'missing' : 'unknown';
  }
  // Field 2 (the command name) is in parentheses and may hold spaces or ')': the fields after
  // the last ')' are unambiguous. fields[0] is field 3 (state), so field 22 is fields[19].
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[19]);
  if (fields[0] === undefined || !Number.isSafeInteger(start)) return 'unknown';
  return { state: fields[0], start };
}

function hostKey(): string {
  try {
    // e.g. "pid:[4026531836]": two containers may share a hostname but not their pids.
    return `${hostname()} ${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return hostname();
  }
}

/** This process, as a holder (read once: none of it changes while the process lives). */
export const SELF: Holder = (() => {
  const stat = readProcStat('self');
  return { host: hostKey(), pid: process.pid, start: typeof stat === 'object' ? stat.start : null };
})();

/** A new lane's owner string: a fresh lane id with its holder. */
export function newOwner(holder: Holder = SELF): string {
  return JSON.stringify({ lane: randomUUID(), host: holder.host, pid: holder.pid, start: holder.start });
}

/** The holder written in an owner string; undefined for an owner with none (an earlier version's UUID). */
export function parseOwner(owner: string): Holder | undefined {
  if (!owner.startsWith('{')) return undefined;
  try {
    const { host, pid, start } = JSON.parse(owner) as Partial<Holder>;
    if (typeof host !== 'string' || !Number.isSafeInteger(pid)) return undefined;
    return { host, pid: pid as number, start: typeof start === 'number' ? start : null };
  } catch {
    return undefined;
  }
}

/** Whether `holder` is this very process. */
export function isSelf(holder: Holder, self: Holder = SELF): boolean {
  return holder.host === self.host && holder.pid === self.pid && holder.start === self.start;
}

/**
 * Whether a holder on this host is gone. With /proc: gone when its pid is missing, is a zombie
 * (killed, not yet reaped), or started at another time (the pid was reused). Without /proc
 * (macOS, Windows) only pid liveness is known: a reused pid keeps the lease until it expires.
 * Anything that cannot be read counts as alive: a wrong "gone" would run a job twice.
 */
export function isHolderGone(holder: Holder, probe: (pid: number) => ProcStat = readProcStat): boolean {
  if (holder.start !== null) {
    const stat = probe(holder.pid);
    if (stat === 'missing') return true;
    if (stat !== 'unknown') return stat.state === 'Z' || stat.state === 'X' || stat.start !== holder.start;
  }
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
