/**
 * Which files a worker thread starts from. Kept apart from the workforce so that how the
 * thread side is built and loaded (source under tsx, one bundled module once built) is decided
 * in one place.
 */
import { usesTsx } from '../worker/loader-flags.mjs';

/**
 * The worker's code. Under tsx (tests, development) the TypeScript entry itself. Once built, the
 * one-module bundle of that entry (scripts/build.mjs): a fresh thread loads ES modules level by
 * level, so one module starts far sooner than the ten it replaces.
 */
const THREAD_ENTRY = new URL(
  import.meta.url.endsWith('.ts') ? '../worker/thread-entry.ts' : '../worker/thread.js',
  import.meta.url,
);
/** A plain JavaScript shim that registers tsx in the thread before the entry (see its header). */
const TSX_BOOT = new URL('../worker/thread-boot.mjs', import.meta.url);
/** Inside workers, `import 'multitask'` resolves to the thread's own module, which carries the worker API (see worker/thread.ts). */
const WORKER_CONDITION = '--conditions=multitask-worker';

/** Flags that help threads but are not required (the light-API export condition). */
export const WORKER_EXTRA_EXEC_ARGV: readonly string[] = [WORKER_CONDITION];

/** The module a thread starts with, and the module that one imports (the thread's real code). */
export function threadFiles(execArgv: readonly string[]): { boot: URL; entry: string } {
  // Without a TypeScript loader the thread starts at the entry itself: one module load less.
  const boot = usesTsx(execArgv) || THREAD_ENTRY.pathname.endsWith('.ts') ? TSX_BOOT : THREAD_ENTRY;
  return { boot, entry: THREAD_ENTRY.href };
}
