// The queue layer's import rules, read from the source: no import cycles inside src/queue
// (type-only imports count), and nothing imported from src/pool (the pool reaches the queue
// through src/queue/port.ts, never the other way).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const QUEUE = join(SRC, 'queue');

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The relative modules a file imports or re-exports, static or dynamic, as .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const pattern = /(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  return [...text.matchAll(pattern)].map((match) =>
    normalize(join(dirname(file), (match[1] ?? match[2])!)).replace(/\.js$/, '.ts'),
  );
}

const graph = new Map(sources(QUEUE).map((file) => [file, importsOf(file)]));

test('src/queue imports nothing from src/pool', () => {
  const pool = join(SRC, 'pool');
  const offenders = [...graph].flatMap(([file, imports]) =>
    imports
      .filter((target) => target.startsWith(pool))
      .map((target) => `${relative(SRC, file)} -> ${relative(SRC, target)}`),
  );
  assert.deepEqual(offenders, []);
});

test('src/queue has no import cycles', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue; // outside src/queue: cannot close a cycle inside it
      if (state.get(target) === 'open')
        cycles.push([...path.slice(path.indexOf(target)), target].map((f) => relative(SRC, f)).join(' -> '));
      else if (!state.has(target)) visit(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assert.ok(graph.size > 10, 'the scan found the queue layer');
  assert.deepEqual(cycles, []);
});
