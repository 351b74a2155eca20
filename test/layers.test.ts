/**
 * The layering rules of docs/ARCHITECTURE.md, checked on the source: which folder may import
 * which, the one door from pool/ into queue/, no import cycle between files, no file over 400
 * lines. A change that breaks a rule fails here, naming the import.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** What each folder may import besides itself; `*` is anything. Files at the top of src/ are `.`. */
const ALLOWED: Record<string, readonly string[]> = {
  '.': ['*'],
  errors: [],
  internal: ['errors.ts'],
  task: ['errors.ts', 'internal'],
  app: ['errors.ts', 'internal', 'task'],
  worker: ['errors.ts', 'internal', 'task', 'app'],
  queue: ['errors.ts', 'internal', 'task', 'app'],
  pool: ['errors.ts', 'internal', 'task', 'app', 'worker', 'queue/port.ts'],
  http: ['errors.ts', 'internal'],
  observability: ['errors.ts', 'internal', 'pool', 'queue', 'worker'],
  cli: ['*'],
};
/**
 * Type-only imports that are part of a public signature (`pool.consume(queue: Queue)`), or the
 * shapes the dashboard reads off a queue (its `DashboardSource`, a structural interface).
 */
const TYPE_ONLY_ALLOWED: Record<string, readonly string[]> = {
  pool: ['queue/queue.ts'],
  http: ['queue/queue.ts', 'queue/fleet-types.ts', 'queue/options.ts', 'queue/transport.ts'],
};

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mjs)$/.test(name) ? [relative(SRC, path)] : [];
  });
}

const files = sourceFiles(SRC);
const imports: Import[] = files.flatMap((from) => {
  const text = readFileSync(join(SRC, from), 'utf8');
  return [...text.matchAll(/^(import|export)(\s+type)?\s[^;]*?from '(\.[^']+)'/gms)].map((match) => ({
    from,
    to: normalize(join(dirname(from), match[3]!)).replace(/\.js$/, '.ts'),
    typeOnly: match[2] !== undefined,
  }));
});

const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');
const matches = (target: string, rule: string) =>
  rule === '*' || target === rule || target.startsWith(`${rule}/`);

describe('the layers', () => {
  it('import only downwards, as docs/ARCHITECTURE.md draws them', () => {
    const wrong = imports.filter(({ from, to, typeOnly }) => {
      const folder = folderOf(from);
      if (folder === folderOf(to)) return false;
      const rules = ALLOWED[folder];
      assert.ok(rules, `src/${folder} has no rule in this test: add it and to docs/ARCHITECTURE.md`);
      if (rules.some((rule) => matches(to, rule))) return false;
      return !(typeOnly && (TYPE_ONLY_ALLOWED[folder] ?? []).some((rule) => matches(to, rule)));
    });
    assert.deepEqual(
      wrong.map(({ from, to }) => `${from} -> ${to}`),
      [],
    );
  });

  it('have no import cycle between files (type-only imports included)', () => {
    const edges = new Map<string, string[]>();
    for (const { from, to } of imports) edges.set(from, [...(edges.get(from) ?? []), to]);
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    assert.deepEqual(cycles, []);
  });

  it('keep every source file under 400 lines', () => {
    const long = files
      .map((file) => ({ file, lines: readFileSync(join(SRC, file), 'utf8').split('\n').length }))
      .filter(({ lines }) => lines > 400)
      .map(({ file, lines }) => `${file}: ${lines}`);
    assert.deepEqual(long, []);
  });
});
