// What the compiler says to a user in strict mode: mistakes that must not compile.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src/index.js');
const circular = join(root, 'test/fixtures/ts-user/circular');
const dir = mkdtempSync(join(tmpdir(), 'multitask-types-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Each file's source; `// error` marks the lines where tsc must report an error, and only them. */
const files: Record<string, string> = {
  'mismatch.ts': `
    import { defineApp } from ${JSON.stringify(src)};
    import { Lookup, Plain } from ${JSON.stringify(join(circular, 'tasks.js'))};
    export const arrow = defineApp({
      tasks: { Plain, Lookup }, // error
      setup: () => ({ notADb: true }),
    });
    export const method = defineApp({
      tasks: { Lookup }, // error
      setup() {
        return { db: 'not a db' };
      },
    });
    export const empty = defineApp({ tasks: { Lookup }, setup: async () => ({}) }); // error
    export const fine = defineApp({
      tasks: { Lookup, Plain },
      setup() {
        return { db: { get: (key: string) => key.length }, more: 1 };
      },
    });
    export const noSetup = defineApp({ tasks: { Plain } });
  `,
  'inferred.ts': `
    import type { AppOf } from ${JSON.stringify(src)};
    import type app from ${JSON.stringify(join(circular, 'app.js'))};
    type App = AppOf<typeof app>;
    export const ok: number = ({} as App).db.get('k');
    export const wrong: string = ({} as App).db.get('k'); // error
    export const missing = ({} as App).nope; // error
  `,
  'size.ts': `
    import { Pool } from ${JSON.stringify(src)};
    export const lots = new Pool({ app: 'app.js', size: 'lots' }); // error
    export const half = new Pool({ app: 'app.js', size: '50%' });
    export const share = new Pool({ app: 'app.js', size: 0.5 });
    export const resize = (pool: Pool) => pool.resize('four'); // error
  `,
  'has-code.ts': `
    import { ErrorCode, hasCode } from ${JSON.stringify(src)};
    export function f(error: unknown): string | undefined {
      if (hasCode(error, ErrorCode.TASK_TIMEOUT)) return error.taskName;
      return error.message; // error
    }
  `,
  'call.ts': `
    import { type Queue, Task } from ${JSON.stringify(src)};
    class Fib extends Task<number> {
      constructor(readonly n: number) {
        super();
      }
      run(): number {
        return this.n;
      }
    }
    class Later extends Task<string> {
      async run(): Promise<string> {
        return 'later';
      }
    }
    export async function calls(queue: Queue): Promise<unknown[]> {
      const n: number = await queue.call(new Fib(3), { queue: 'math', waitMs: 10 });
      const s: string = await queue.call(new Later());
      const wrong: string = await queue.call(new Fib(3)); // error
      await queue.call(new Fib(3), { waitMs: '10' }); // error
      await queue.dispatch(new Fib(3), { result: 'yes' }); // error
      const kept: number = await queue.result<number>('id', { waitMs: 5 });
      return [n, s, wrong, kept];
    }
  `,
};

describe('types a user meets in strict mode', () => {
  const names = Object.keys(files);
  for (const name of names) writeFileSync(join(dir, name), files[name] ?? '');
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: join(root, 'tsconfig.json'),
      compilerOptions: { noEmit: true, rootDir: '/', typeRoots: [join(root, 'node_modules/@types')] },
      include: names.map((name) => join(dir, name)),
    }),
  );
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const reported = new Set(
    [...result.stdout.matchAll(/^(?:.*[/\\])?([\w-]+\.ts)\((\d+),\d+\): error/gm)].map(
      ([, file, line]) => `${file}:${line}`,
    ),
  );

  for (const name of names) {
    it(`${name}: tsc reports errors exactly on the lines marked // error`, () => {
      const expected = (files[name] ?? '')
        .split('\n')
        .flatMap((line, index) => (line.includes('// error') ? [`${name}:${index + 1}`] : []));
      const got = [...reported].filter((at) => at.startsWith(`${name}:`));
      assert.deepEqual(got.sort(), expected.sort(), result.stdout);
    });
  }

  it('a task whose ctx.app does not match setup is reported where it is registered, naming the mismatch', () => {
    assert.match(
      result.stdout,
      /mismatch\.ts\(5,\d+\): error TS2322: Type 'typeof Lookup' is not assignable/,
    );
    assert.match(result.stdout, /Property 'db' is missing in type '\{ notADb: boolean; \}'/);
  });
});
