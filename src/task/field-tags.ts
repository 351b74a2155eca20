import { invalidTaskField } from '../errors.js';
import type { TaskFields } from './task.js';

/** How deep fields may nest, the same limit as the encoder's. */
export const MAX_DEPTH = 100;

/**
 * The one key under which a field carries a value JSON has no type for:
 * `{ "$multitask": "Date", "value": "2026-01-01T00:00:00.000Z" }`. Plain data may not use this key
 * (the encoder refuses it), so plain JSON from any producer decodes to itself.
 *
 * | type                          | value                                   |
 * | ----------------------------- | --------------------------------------- |
 * | `BigInt`                      | decimal string, `"-12"`                 |
 * | `Date`                        | a date string, ISO 8601 when we write it |
 * | `URL`                         | its href                                |
 * | `Map`                         | array of `[key, value]` pairs           |
 * | `Set`                         | array of items                          |
 * | `ArrayBuffer`, typed arrays   | base64 of the bytes                     |
 */
export const TAG_KEY = '$multitask';

/** A tagged value. */
export function tag(type: string, value: unknown): Record<string, unknown> {
  return { [TAG_KEY]: type, value };
}

const TYPED_CONSTRUCTORS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;

/** Typed array prototypes -> their tag. */
export const TYPED_ARRAYS = new Map<unknown, string>(
  Object.entries(TYPED_CONSTRUCTORS).map(([name, type]) => [type.prototype, name]),
);

/** The bytes as base64. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes the tags in `fields`, in place: the worker side of both paths (a cloned call and a
 * parsed job). Costs one typeof per primitive field; only objects are walked.
 */
export function decodeFields(fields: TaskFields, taskName: string): TaskFields {
  for (const key in fields) {
    const value = fields[key];
    if (typeof value === 'object' && value !== null) fields[key] = decode(value, key, taskName, 1);
  }
  return fields;
}

/**
 * A result parsed from the JSON of {@link resultJson} (field-codec.ts), its tags decoded in
 * place: what `queue.call` resolves with.
 */
export function decodeResult(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? decode(value, 'result', 'result', 1) : value;
}

function decode(value: object, path: string, taskName: string, depth: number): unknown {
  // A producer's JSON may nest deeper than the encoder allows; refuse it rather than overflow the stack.
  if (depth > MAX_DEPTH) throw invalidTaskField(taskName, path, `nested deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null)
        value[i] = decode(item, `${path}[${i}]`, taskName, depth + 1);
    }
    return value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    const record = value as Record<string, unknown>;
    if (Object.hasOwn(record, TAG_KEY)) return decodeTag(record, path, taskName, depth);
    for (const key in record) {
      const item = record[key];
      if (typeof item === 'object' && item !== null)
        record[key] = decode(item, `${path}.${key}`, taskName, depth + 1);
    }
    return value;
  }
  // Structured clone carries Map and Set; their contents may hold tags (a URL).
  if (proto === Map.prototype) {
    const entries = [...(value as Map<unknown, unknown>)].map(([k, v], i) => [
      decodeAny(k, `${path}.<key ${i}>`, taskName, depth + 1),
      decodeAny(v, `${path}.get(${String(k)})`, taskName, depth + 1),
    ]);
    return new Map(entries as Array<[unknown, unknown]>);
  }
  if (proto === Set.prototype)
    return new Set(
      [...(value as Set<unknown>)].map((v, i) => decodeAny(v, `${path}.<item ${i}>`, taskName, depth + 1)),
    );
  return value;
}

function decodeAny(value: unknown, path: string, taskName: string, depth: number): unknown {
  return typeof value === 'object' && value !== null ? decode(value, path, taskName, depth) : value;
}

function decodeTag(record: Record<string, unknown>, path: string, taskName: string, depth: number): unknown {
  const type = record[TAG_KEY];
  const value = record.value;
  const bad = (why: string) =>
    invalidTaskField(taskName, path, `a "${TAG_KEY}" tag of type ${JSON.stringify(type)} ${why}`);
  if (Object.keys(record).length !== 2 || !Object.hasOwn(record, 'value'))
    throw bad('needs exactly the keys "$multitask" and "value"');
  switch (type) {
    case 'BigInt':
      if (typeof value !== 'string' || !/^-?\d+$/.test(value)) throw bad('needs a decimal string');
      return BigInt(value);
    case 'Date': {
      const date = typeof value === 'string' ? new Date(value) : undefined;
      if (date === undefined || Number.isNaN(date.getTime())) throw bad('needs a date string');
      return date;
    }
    case 'URL':
      if (typeof value !== 'string' || !URL.canParse(value)) throw bad('needs an absolute URL string');
      return new URL(value);
    case 'Map':
      if (!Array.isArray(value) || !value.every((pair) => Array.isArray(pair) && pair.length === 2))
        throw bad('needs an array of [key, value] pairs');
      return new Map(
        value.map(([k, v], i) => [
          decodeAny(k, `${path}.<key ${i}>`, taskName, depth + 1),
          decodeAny(v, `${path}.get(${String(k)})`, taskName, depth + 1),
        ]),
      );
    case 'Set':
      if (!Array.isArray(value)) throw bad('needs an array');
      return new Set(value.map((v, i) => decodeAny(v, `${path}.<item ${i}>`, taskName, depth + 1)));
    default:
      return decodeBytes(type, value, bad);
  }
}

function decodeBytes(type: unknown, value: unknown, bad: (why: string) => Error): unknown {
  if (type !== 'ArrayBuffer' && !Object.hasOwn(TYPED_CONSTRUCTORS, type as string))
    throw bad('is not a known type');
  if (typeof value !== 'string') throw bad('needs a base64 string');
  const bytes = Buffer.from(value, 'base64');
  // A fresh, aligned buffer: Buffer.from may return a view into a shared pool at any offset.
  const buffer = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buffer).set(bytes);
  if (type === 'ArrayBuffer') return buffer;
  const Type = TYPED_CONSTRUCTORS[type as keyof typeof TYPED_CONSTRUCTORS];
  if (buffer.byteLength % Type.BYTES_PER_ELEMENT !== 0)
    throw bad(`needs a multiple of ${Type.BYTES_PER_ELEMENT} bytes`);
  return new Type(buffer);
}
