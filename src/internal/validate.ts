/**
 * Validators shared by every layer (pool, queue, command line): each returns the value it
 * checked or throws `ERR_INVALID_OPTION` quoting what was given.
 */
import { invalidOption } from '../errors.js';

/** An integer >= 1, or `ERR_INVALID_OPTION`. */
export function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw invalidOption(name, value, 'an integer >= 1');
  return value;
}

/** A finite number >= 0, or `ERR_INVALID_OPTION`. */
export function nonNegative(name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0)
    throw invalidOption(name, value, 'a number >= 0');
  return value;
}
