import { ErrorCode, type ErrorCodeValue, rebuiltInThisThread } from '../errors.js';

/**
 * An error as it crosses a thread: plain data. Structured clone keeps only some of an Error
 * (no `code`, no custom name, no extra fields), so errors are flattened and rebuilt by hand.
 */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  exitCode?: number;
  taskName?: string;
  field?: string;
  cause?: WireError;
}

const MAX_CAUSE_DEPTH = 8;
const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** Flattens any thrown value into a {@link WireError}. */
export function toWireError(error: unknown, depth = 0): WireError {
  if (error === null || typeof error !== 'object') {
    return { name: 'Error', message: String(error) };
  }
  const source = error as Partial<WireError> & { cause?: unknown };
  const wire: WireError = {
    name: typeof source.name === 'string' ? source.name : 'Error',
    message: typeof source.message === 'string' ? source.message : String(error),
  };
  if (typeof source.stack === 'string') wire.stack = source.stack;
  if (typeof source.code === 'string' || typeof source.code === 'number') wire.code = String(source.code);
  if (typeof source.exitCode === 'number') wire.exitCode = source.exitCode;
  if (typeof source.taskName === 'string') wire.taskName = source.taskName;
  if (typeof source.field === 'string') wire.field = source.field;
  if (source.cause !== undefined && depth < MAX_CAUSE_DEPTH)
    wire.cause = toWireError(source.cause, depth + 1);
  return wire;
}

/**
 * Rebuilds a thrown value: a multitask code gives a `MultitaskError`, anything else an Error
 * with the original name, message, stack and code.
 */
export function fromWireError(wire: WireError): Error {
  const cause = wire.cause === undefined ? undefined : fromWireError(wire.cause);
  let error: Error;
  if (wire.code !== undefined && KNOWN_CODES.has(wire.code) && wire.name === 'MultitaskError') {
    error = rebuiltInThisThread(wire.code as ErrorCodeValue, wire.message, {
      cause,
      exitCode: wire.exitCode,
      taskName: wire.taskName,
      field: wire.field,
    });
  } else {
    error = cause === undefined ? new Error(wire.message) : new Error(wire.message, { cause });
    error.name = wire.name;
    if (wire.code !== undefined) (error as Error & { code?: string }).code = wire.code;
  }
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}
