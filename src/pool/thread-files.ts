/**
 * Which files a worker thread starts from, and with which Node flags. Kept apart from the
 * workforce so that how the thread side is built and loaded (source under tsx, one bundled
 * module once built) and what each thread costs in memory are decided in one place.
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
/** Running from the TypeScript sources (tests, development): the entry itself needs tsx. */
const FROM_SOURCES = THREAD_ENTRY.pathname.endsWith('.ts');
/** A plain JavaScript shim that registers tsx in the thread before the entry (see its header). */
const TSX_BOOT = new URL('../worker/thread-boot.mjs', import.meta.url);
/** Inside workers, `import 'multitask'` resolves to the thread's own module, which carries the worker API (see worker/thread.ts). */
const WORKER_CONDITION = '--conditions=multitask-worker';
const TYPESCRIPT_FILE = /\.[cm]?tsx?$/;
/** Flags whose value is the next argument when not written `--flag=value`. */
const LOADER_FLAGS = new Set(['--import', '--loader', '--experimental-loader', '--require', '-r']);

/** Flags that help threads but are not required (the light-API export condition). */
export const WORKER_EXTRA_EXEC_ARGV: readonly string[] = [WORKER_CONDITION];

/** How a thread is started. */
export interface ThreadStart {
  /** The module a thread starts with. */
  boot: URL;
  /** The module that one imports (the thread's real code). */
  entry: string;
  /** Register tsx in the thread before its entry (thread-boot.mjs). */
  tsx: boolean;
  /** The flags to start it with, before the extras. */
  execArgv: string[];
  /** True when they are the parent's own (Pool option `execArgv` not given). */
  inherited: boolean;
  /** The parent's tsx flags were left out (a JavaScript app). */
  tsxLeftOut: boolean;
}

/**
 * Decides how threads start for the app at `appUrl`, given the Pool's `execArgv` option.
 *
 * A thread that inherits the parent's tsx (`node --import tsx`) pays for it whether it needs it
 * or not: on Node 20 tsx's preload is not active in threads, so a thread that needs TypeScript
 * registers tsx itself (a loader thread of its own per worker), and one whose app is JavaScript
 * needs neither. So the parent's tsx flags are not passed on when the app is JavaScript and the
 * thread runs the built package: that thread starts at the bundled entry with no loader. An
 * explicit `execArgv` option is passed on as it is, tsx included.
 */
export function threadStart(execArgvOption: readonly string[] | undefined, appUrl: string): ThreadStart {
  const inherited = execArgvOption === undefined;
  const flags = [...(execArgvOption ?? process.execArgv)];
  const tsxFlagged = usesTsx(flags);
  const tsx = tsxFlagged && (FROM_SOURCES || !inherited || isTypeScript(appUrl));
  return {
    boot: tsx || FROM_SOURCES ? TSX_BOOT : THREAD_ENTRY,
    entry: THREAD_ENTRY.href,
    tsx,
    execArgv: tsxFlagged && !tsx ? withoutTsx(flags) : flags,
    inherited,
    tsxLeftOut: tsxFlagged && !tsx,
  };
}

function isTypeScript(appUrl: string): boolean {
  try {
    return TYPESCRIPT_FILE.test(new URL(appUrl).pathname);
  } catch {
    return TYPESCRIPT_FILE.test(appUrl);
  }
}

/** The flags less those that load tsx (`--import tsx`, `--import=tsx/esm`, a path into tsx). */
function withoutTsx(flags: readonly string[]): string[] {
  const kept: string[] = [];
  for (const flag of flags) {
    if (!usesTsx([flag])) kept.push(flag);
    else if (!flag.startsWith('-') && LOADER_FLAGS.has(kept.at(-1) ?? '')) kept.pop();
  }
  return kept;
}

/**
 * Whether threads accept our extra flags. Flags given explicitly are validated, and V8 and
 * per-process ones (`--expose-gc`, `--max-old-space-size`…) are refused, while inherited ones
 * are not. The parent's own refused flags are left out (they are process-wide: a thread has them
 * anyway), so the extras stay; only when that does not do, threads inherit the parent's flags
 * and do without the extras (then `import 'multitask'` in a thread loads the full API).
 */
let extrasAccepted = true;
/** The parent's flags that threads refused, once a thread has said which. */
let refusedParentFlags: ReadonlySet<string> = new Set();

/**
 * Starts a thread through `start` with `flags` and the extras, leaving out the parent's flags
 * that threads refuse (see above); a user's own flags (`inherited` false) are never changed.
 */
export function startWithFlags<T>(
  start: (execArgv: string[] | undefined) => T,
  flags: readonly string[],
  inherited: boolean,
  extras: readonly string[],
): T {
  let kept = inherited ? withoutFlags(flags, refusedParentFlags) : [...flags];
  while (extrasAccepted) {
    try {
      return start([...kept, ...extras]);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
      const refused = inherited ? refusedFlags(error) : undefined;
      const fewer = refused && withoutFlags(kept, refused);
      if (fewer === undefined || fewer.length === kept.length) extrasAccepted = false;
      else {
        refusedParentFlags = new Set([...refusedParentFlags, ...refused!]);
        kept = fewer;
      }
    }
  }
  return start(inherited ? undefined : [...flags]);
}

/**
 * The flags a thread refused, as its `ERR_WORKER_INVALID_EXEC_ARGV` lists them; undefined when
 * it lists none. Node refuses V8 and per-process flags (`--max-old-space-size`, `--expose-gc`…)
 * given to a thread, though a thread that inherits them runs with them all the same: they are
 * process-wide.
 */
function refusedFlags(error: unknown): ReadonlySet<string> | undefined {
  const message = (error as { message?: unknown } | undefined)?.message;
  const listed = typeof message === 'string' ? /invalid execArgv flags: (.+)$/s.exec(message) : null;
  return listed ? new Set(listed[1]!.split(', ').map((flag) => flag.trim())) : undefined;
}

/** `flags` less those in `refused`, with the value that follows a refused `--flag value`. */
function withoutFlags(flags: readonly string[], refused: ReadonlySet<string>): string[] {
  const kept: string[] = [];
  let skipValue = false;
  for (const flag of flags) {
    if (skipValue && !flag.startsWith('-')) {
      skipValue = false;
      continue;
    }
    skipValue = refused.has(flag) && !flag.includes('=');
    if (!refused.has(flag)) kept.push(flag);
  }
  return kept;
}
