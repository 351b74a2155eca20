import { availableParallelism } from 'node:os';
import { invalidOption } from '../errors.js';

/**
 * A pool size as users write it: a worker count (4), a share of the CPUs (0.5), or a percentage
 * of them ('50%', '150%').
 */
export type PoolSize = number | `${number}%`;

const EXPECTED = 'an integer >= 1, a share > 0 of the CPUs (0.5) or a percentage ("50%", "150%")';

/**
 * Turns a size into a worker count: integers are counts, other positive numbers and percentages
 * are shares of `os.availableParallelism()`, rounded up and at least 1. `option` names the
 * option (or environment variable) in the error, which quotes the value. Any string is read, as
 * the command line and the environment give strings ('4', '0.5').
 */
export function resolveSize(size: PoolSize | string, option = 'size', cpus = availableParallelism()): number {
  let share: number | undefined;
  if (typeof size === 'number') {
    if (Number.isInteger(size) && size >= 1) return size;
    share = size;
  } else if (typeof size === 'string') {
    const text = size.trim();
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
    if (percent) share = Number(percent[1]) / 100;
    else if (/^\d+$/.test(text)) return resolveSize(Number(text), option, cpus);
    else if (/^\d*\.\d+$/.test(text)) share = Number(text);
  }
  if (share === undefined || !Number.isFinite(share) || share <= 0)
    throw invalidOption(option, size, EXPECTED);
  return Math.max(1, Math.ceil(share * cpus));
}
