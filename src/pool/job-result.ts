/**
 * A job's return value for its caller (`queue.call`): encoded here, once, whatever the
 * transport that carries it, with the codec of task fields, and only when a caller waits for
 * it. A value JSON cannot carry fails the job at once with `ERR_RESULT_NOT_CLONEABLE`, rather
 * than answer the caller with less than was returned: another attempt would return the same.
 */
import { type EncodedResult, type StoredError, storedError } from '../queue/port.js';
import { resultJson } from '../task/field-codec.js';

export type { EncodedResult };

/** How a job that returned settles: acked with its encoded result, or failed. */
export type ReturnedJob =
  | { outcome: 'completed'; result: EncodedResult | undefined; error?: undefined }
  | { outcome: 'failed'; result?: undefined; error: StoredError };

/** Settles a job whose task returned `value`; encodes it when `wanted` (a caller waits for it). */
export function settleValue(wanted: boolean, value: unknown): ReturnedJob {
  if (!wanted) return { outcome: 'completed', result: undefined };
  try {
    return { outcome: 'completed', result: { json: resultJson(value) } };
  } catch (error) {
    return { outcome: 'failed', error: storedError(error) };
  }
}
