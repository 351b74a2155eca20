import type { Task } from './task.js';

/**
 * A worker rebuilds a task from its class's prototype without calling the constructor, so an
 * instance `#private` member (field, method or accessor) is missing there and the first read of
 * it throws "Cannot read private member". JavaScript offers no reflection on private names, so
 * this reads the class's own source (and its ancestors'), once per class: the first non-static
 * `#name` declared in a class body, or undefined.
 */
export function privateInstanceMember(task: Task<unknown, never>): string | undefined {
  const taskClass = (task as { constructor?: unknown }).constructor;
  // The last class found clean: a stream of one task class costs one comparison per call.
  if (taskClass === lastClean || typeof taskClass !== 'function') return undefined;
  let found = cache.get(taskClass);
  if (found === undefined) {
    found = scanChain(taskClass) ?? '';
    cache.set(taskClass, found);
  }
  if (found !== '') return found;
  lastClean = taskClass;
  return undefined;
}

let lastClean: unknown;

// '' means "none": a WeakMap lookup is the whole cost per call once a class was read.
const cache = new WeakMap<Function, string>();

function scanChain(taskClass: Function): string | undefined {
  for (let current: unknown = taskClass; typeof current === 'function'; ) {
    if (current === Function.prototype) return undefined;
    const found = scanClassSource(Function.prototype.toString.call(current));
    if (found !== undefined) return found;
    current = Object.getPrototypeOf(current);
  }
  return undefined;
}

/**
 * The first instance `#name` declared at the top level of a class body. Strings and comments
 * are skipped; a member ends at `;`, at a newline, or where a nested block closes.
 */
export function scanClassSource(source: string): string | undefined {
  if (!source.startsWith('class')) return undefined;
  let depth = 0;
  let inHead = false; // reading a member's modifiers and name (depth 1, before "=" or "(")
  let isStatic = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(source, i, c);
      continue;
    }
    if (c === '/' && source[i + 1] === '/') {
      i = source.indexOf('\n', i);
      if (i < 0) return undefined;
      i--; // the newline itself ends the member
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      i = source.indexOf('*/', i + 2) + 1;
      if (i <= 0) return undefined;
      continue;
    }
    if (c === '{' || c === '(' || c === '[') {
      depth++;
      if (depth === 1) [inHead, isStatic] = [true, false];
      continue;
    }
    if (c === '}' || c === ')' || c === ']') {
      depth--;
      if (depth === 1 && c === '}') [inHead, isStatic] = [true, false];
      if (depth === 0) return undefined;
      continue;
    }
    if (depth !== 1) continue;
    if (c === ';' || c === '\n') {
      [inHead, isStatic] = [true, false];
    } else if (c === '=') {
      inHead = false;
    } else if (inHead && c === '#') {
      const name = /^#[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*/u.exec(source.slice(i, i + 256))?.[0];
      if (name !== undefined && !isStatic) return name;
      inHead = false;
    } else if (inHead && source.startsWith('static', i) && !/[\w$]/.test(source[i + 6] ?? '')) {
      isStatic = true;
      i += 5;
    }
  }
  return undefined;
}

function skipString(source: string, start: number, quote: string): number {
  for (let i = start + 1; i < source.length; i++) {
    if (source[i] === '\\') i++;
    else if (source[i] === quote) return i;
  }
  return source.length;
}
