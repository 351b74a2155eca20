/**
 * The options of waiting for a job's outcome (`queue.call`, `queue.result`), checked before
 * anything is sent.
 */
import { invalidOption } from '../errors.js';
import { type DispatchOptions, optionalSignal } from './options.js';
import type { Wait } from './results.js';

/** Options of {@link Queue.result}. */
export interface ResultOptions {
  /**
   * How long to wait (ms), counted from the call; then it rejects with `ERR_RESULT_TIMEOUT`
   * and the job goes on. Default `Infinity`: as long as the job takes.
   */
  waitMs?: number;
  /** Stops waiting (an AbortError, as Node's APIs reject); the job goes on. */
  signal?: AbortSignal;
}

/**
 * Options of {@link Queue.call}: those of a dispatch (`queue`, `attempts`, `timeoutMs`,
 * `delayMs`, `id`), and how long to wait for the result. A call always asks for its result.
 */
export interface CallOptions extends Omit<DispatchOptions, 'result'>, ResultOptions {}

/** The longest finite wait: a Node.js timer fires at once past 2^31 − 1 ms. */
export const MAX_WAIT_MS = 2 ** 31 - 1;

/** Validates `waitMs` and `signal`. */
export function resolveWait(options: ResultOptions | undefined): Wait {
  if (options === undefined) return { waitMs: Number.POSITIVE_INFINITY, signal: undefined };
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
  const { waitMs = Number.POSITIVE_INFINITY } = options;
  if (
    typeof waitMs !== 'number' ||
    Number.isNaN(waitMs) ||
    waitMs < 0 ||
    (waitMs > MAX_WAIT_MS && waitMs !== Number.POSITIVE_INFINITY)
  )
    throw invalidOption('waitMs', waitMs, `a number of ms from 0 to ${MAX_WAIT_MS}, or Infinity`);
  return { waitMs, signal: optionalSignal(options.signal) };
}
