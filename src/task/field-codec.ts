/**
 * One rule set for a task's fields, whether they cross to a worker (`pool.run`, `supervise`) or
 * into a queued job (`queue.dispatch`): a field is accepted only if it arrives intact both ways.
 *
 * - as they are: strings, finite numbers, booleans, null, arrays, plain objects (an `undefined`
 *   property reads back undefined; in a queued job it is left out, as JSON does);
 * - tagged as `{ "$multitask": "<type>", "value": <JSON> }` (see field-tags.ts): bigint, Date, Map,
 *   Set, URL, ArrayBuffer and typed arrays. In a queued job every one of them is tagged; to a
 *   worker only URL is (structured clone carries the others itself). The worker decodes tags in
 *   `rebuildTask`, the one place both paths meet.
 * - refused, with `ERR_INVALID_TASK_FIELD` naming the field: NaN and ±Infinity, undefined in an
 *   array, functions, symbols, class instances (their prototype, and any `#private` member, would
 *   not arrive), a Buffer (it would arrive as a Uint8Array), invalid Dates, cycles, nesting deeper
 *   than {@link MAX_DEPTH}, a plain object with a `"$multitask"` key, and a task class with an
 *   instance `#private` member (the worker does not run the constructor that would set it).
 */

import { invalidTaskField, resultNotEncodable } from '../errors.js';
import { MAX_DEPTH, TAG_KEY, TYPED_ARRAYS, tag, toBase64 } from './field-tags.js';
import { privateInstanceMember } from './private-members.js';
import type { Task, TaskFields } from './task.js';

/** How deep fields may nest (levels of arrays, objects, Maps and Sets). */
export { MAX_DEPTH };

/** The task's fields for a worker (`pool.run`, `supervise`), refused as described above. */
export function cloneableFields(task: Task<unknown, never>, taskName: string): TaskFields {
  return encodeFields(task, taskName, false);
}

/** The task's fields for a queued job (JSON), refused as described above. */
export function jsonFields(task: Task<unknown, never>, taskName: string): TaskFields {
  return encodeFields(task, taskName, true);
}

function encodeFields(task: Task<unknown, never>, taskName: string, json: boolean): TaskFields {
  const secret = privateInstanceMember(task);
  if (secret !== undefined)
    throw invalidTaskField(
      taskName,
      secret,
      'a #private member: the worker rebuilds the task without its constructor',
    );
  const fields: TaskFields = { ...task };
  // The hot path: a task of a few primitive fields costs one typeof per field.
  for (const key in fields) {
    const value = fields[key];
    const type = typeof value;
    if (type === 'string' || type === 'boolean' || type === 'undefined' || value === null) continue;
    if (type === 'number' && (value as number) - (value as number) === 0) continue;
    if (type === 'bigint' && !json) continue;
    const encoded = encode(value, key, json, 0, []);
    if (encoded.problem !== undefined) throw invalidTaskField(taskName, encoded.path, encoded.problem);
    fields[key] = encoded.value;
  }
  return fields;
}

type Encoded = { value: unknown; problem?: undefined; path?: undefined } | { problem: string; path: string };

const OK_NULL: Encoded = { value: null };

function refuse(path: string, problem: string): Encoded {
  return { problem, path };
}

function encode(value: unknown, path: string, json: boolean, depth: number, ancestors: object[]): Encoded {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return { value };
    case 'number':
      return Number.isFinite(value) ? { value } : refuse(path, `${value} is not a finite number`);
    case 'bigint':
      return { value: json ? tag('BigInt', value.toString()) : value };
    case 'object':
      if (value === null) return OK_NULL;
      return encodeObject(value, path, json, depth + 1, ancestors);
    default:
      return refuse(path, `a ${typeof value}`);
  }
}

function encodeObject(
  value: object,
  path: string,
  json: boolean,
  depth: number,
  ancestors: object[],
): Encoded {
  if (depth > MAX_DEPTH) return refuse(path, `nested deeper than ${MAX_DEPTH} levels`);
  if (ancestors.includes(value)) return refuse(path, 'a circular reference');
  const proto = Object.getPrototypeOf(value);
  if (proto === Array.prototype) return encodeArray(value as unknown[], path, json, depth, ancestors);
  if (proto === Object.prototype || proto === null) {
    if (Object.hasOwn(value, TAG_KEY))
      return refuse(`${path}.${TAG_KEY}`, `the key "${TAG_KEY}" is reserved for tagged values`);
    return encodePlain(value as Record<string, unknown>, path, json, depth, ancestors);
  }
  if (proto === Date.prototype) {
    const time = (value as Date).getTime();
    if (Number.isNaN(time)) return refuse(path, 'an invalid Date');
    return { value: json ? tag('Date', (value as Date).toISOString()) : value };
  }
  if (proto === URL.prototype) return { value: tag('URL', (value as URL).href) };
  if (proto === Map.prototype || proto === Set.prototype) {
    const isMap = proto === Map.prototype;
    const nested = [...ancestors, value];
    const items: unknown[] = [];
    let changed = false;
    let index = 0;
    for (const item of value as Map<unknown, unknown> | Set<unknown>) {
      const pair = isMap ? (item as [unknown, unknown]) : [item];
      const encoded: unknown[] = [];
      for (let i = 0; i < pair.length; i++) {
        const part = pair[i];
        const partPath = isMap
          ? `${path}${i === 0 ? '.<key>' : `.get(${String(pair[0])})`}`
          : `${path}.<item ${index}>`;
        if (part === undefined) return refuse(partPath, 'undefined in a Map or Set');
        const result = encode(part, partPath, json, depth, nested);
        if (result.problem !== undefined) return result;
        if (result.value !== part) changed = true;
        encoded.push(result.value);
      }
      items.push(isMap ? encoded : encoded[0]);
      index++;
    }
    if (json) return { value: tag(isMap ? 'Map' : 'Set', items) };
    if (!changed) return { value };
    return { value: isMap ? new Map(items as Array<[unknown, unknown]>) : new Set(items) };
  }
  if (proto === ArrayBuffer.prototype)
    return { value: json ? tag('ArrayBuffer', toBase64(new Uint8Array(value as ArrayBuffer))) : value };
  const typed = TYPED_ARRAYS.get(proto);
  if (typed !== undefined) {
    const view = value as ArrayBufferView;
    if (!json) return { value };
    return { value: tag(typed, toBase64(new Uint8Array(view.buffer, view.byteOffset, view.byteLength))) };
  }
  if (typeof Buffer === 'function' && proto === Buffer.prototype)
    return refuse(path, 'a Buffer, which would arrive as a Uint8Array: pass new Uint8Array(buffer)');
  const name = (proto as { constructor?: { name?: string } } | undefined)?.constructor?.name || 'a class';
  return refuse(path, `an instance of ${name}, not a plain object`);
}

function encodeArray(
  value: unknown[],
  path: string,
  json: boolean,
  depth: number,
  ancestors: object[],
): Encoded {
  let copy: unknown[] | undefined;
  const nested = [...ancestors, value];
  for (let i = 0; i < value.length; i++) {
    const item = value[i];
    const type = typeof item;
    if (type === 'string' || type === 'boolean' || item === null) continue;
    if (type === 'number' && (item as number) - (item as number) === 0) continue;
    if (item === undefined) return refuse(`${path}[${i}]`, 'undefined in an array');
    const encoded = encode(item, `${path}[${i}]`, json, depth, nested);
    if (encoded.problem !== undefined) return encoded;
    if (encoded.value !== item) {
      copy ??= value.slice();
      copy[i] = encoded.value;
    }
  }
  return { value: copy ?? value };
}

function encodePlain(
  value: Record<string, unknown>,
  path: string,
  json: boolean,
  depth: number,
  ancestors: object[],
): Encoded {
  let copy: Record<string, unknown> | undefined;
  const nested = [...ancestors, value];
  for (const key of Object.keys(value)) {
    const item = value[key];
    const type = typeof item;
    if (type === 'string' || type === 'boolean' || type === 'undefined' || item === null) continue;
    if (type === 'number' && (item as number) - (item as number) === 0) continue;
    const encoded = encode(item, `${path}.${key}`, json, depth, nested);
    if (encoded.problem !== undefined) return encoded;
    if (encoded.value !== item) {
      copy ??= { ...value };
      copy[key] = encoded.value;
    }
  }
  return { value: copy ?? value };
}

/**
 * A task's return value on its way to a caller in another process (`queue.call`): JSON text
 * under the rules and tags of a queued job's fields (a Date, bigint, Map… tagged), or undefined
 * for undefined. Throws `ERR_RESULT_NOT_CLONEABLE` naming what JSON cannot carry (a function, a
 * symbol, NaN, a class instance, a cycle…), so the job fails rather than answer with less.
 */
export function resultJson(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const encoded = encode(value, 'result', true, 0, []);
  if (encoded.problem !== undefined) throw resultNotEncodable(encoded.path, encoded.problem);
  return JSON.stringify(encoded.value);
}
