// One rule set for task fields: each value either arrives intact through pool.run AND through a
// queued job (SQLite), or is refused at both call sites with the same error naming the field.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, openQueue, Pool, type Queue } from '../src/index.js';
import { privateInstanceMember, scanClassSource } from '../src/task/private-members.js';
import { Inspect, look, Secret } from './fixtures/codec-app.js';
import { eventually } from './helpers.js';
import { tempDir } from './queue-helpers.js';

const APP = new URL('./fixtures/codec-app.ts', import.meta.url);
const dir = tempDir();
let pool: Pool;
let queue: Queue;

before(async () => {
  pool = new Pool({ app: APP, size: 1 });
  queue = await openQueue(`sqlite:${join(dir, 'codec.db')}`, { app: APP });
});
after(async () => {
  await pool.close();
  await queue.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What a queued job's task saw, through a consumer of a fresh queue. */
async function throughQueue(value: unknown, name: string): Promise<string> {
  const file = join(dir, `${name}.log`);
  await queue.dispatch(new Inspect(file, value), { queue: name });
  const consumer = pool.consume(queue, { queue: name });
  try {
    await eventually(() => {
      try {
        return readFileSync(file, 'utf8').length > 0;
      } catch {
        return false;
      }
    });
  } finally {
    await consumer.stop();
  }
  return JSON.parse(readFileSync(file, 'utf8').trim().split('\n')[0] ?? 'null') as string;
}

const deep = (levels: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
};

const intact: Array<[string, unknown]> = [
  ['a URL', new URL('https://user@example.com:8080/p?q=1#h')],
  ['a Date', new Date('2026-12-01T10:20:30.456Z')],
  [
    'a Map with object keys and Dates inside',
    new Map<unknown, unknown>([
      ['a', new Date(0)],
      [{ k: 1 }, [1n]],
    ]),
  ],
  ['a Set', new Set([1, 'two', new URL('http://x.test/')])],
  ['a bigint', 12345678901234567890n],
  ['plain JSON, nested', { a: [1, 'x', true, null, { b: [] }], c: { d: -0.5 } }],
  [
    'typed arrays and an ArrayBuffer',
    [
      new Uint8Array([1, 2, 255]),
      new Float64Array([0.1, -2]),
      new BigInt64Array([-1n]),
      new Uint8Array([9, 8]).buffer,
    ],
  ],
  ['nesting at the limit (100 levels)', deep(100)],
];

for (const [label, value] of intact) {
  it(`${label} arrives intact through pool.run and through a queued job`, async () => {
    assert.equal(await pool.run(new Inspect('', value)), look(value));
    assert.equal(await throughQueue(value, `intact${intact.findIndex(([l]) => l === label)}`), look(value));
  });
}

class Point {
  constructor(readonly x: number) {}
}
class Hidden {
  #y = 1;
  get y(): number {
    return this.#y;
  }
}
function sparse(): unknown[] {
  const array: unknown[] = [1];
  array[2] = 3; // index 1 is a hole
  return array;
}
const cycle: { self?: unknown } = {};
cycle.self = cycle;

const refused: Array<[string, unknown, string, RegExp]> = [
  ['NaN', Number.NaN, 'value', /NaN is not a finite number/],
  ['Infinity deep inside', { a: [Number.POSITIVE_INFINITY] }, 'value.a[0]', /Infinity/],
  ['undefined in an array', [1, undefined], 'value[1]', /undefined in an array/],
  ['a hole in an array', sparse(), 'value[1]', /undefined in an array/],
  ['a nested class instance', { at: new Point(1) }, 'value.at', /an instance of Point/],
  ['an object with a #private field', [new Hidden()], 'value[0]', /an instance of Hidden/],
  ['a function', { f: () => 1 }, 'value.f', /a function/],
  ['a symbol', Symbol('s'), 'value', /a symbol/],
  ['a cycle', cycle, 'value.self', /circular/],
  ['a Buffer', Buffer.from('hi'), 'value', /Buffer/],
  ['an invalid Date', new Date(Number.NaN), 'value', /invalid Date/],
  ['a RegExp', /x/, 'value', /an instance of RegExp/],
  ['the reserved key', { $multitask: 'Date', value: 'today' }, 'value.$multitask', /reserved/],
  ['nesting past the limit', deep(101), `value${'.a'.repeat(100)}`, /nested deeper than 100 levels/],
];

describe('refused at both call sites, with the same error naming the field', () => {
  for (const [label, value, field, reason] of refused) {
    it(label, async () => {
      const errors: Array<Error & { code?: string; field?: string }> = [];
      await pool.run(new Inspect('', value)).then(
        () => assert.fail('pool.run accepted it'),
        (error) => errors.push(error),
      );
      await queue.dispatch(new Inspect('', value), { queue: 'refused' }).then(
        () => assert.fail('dispatch accepted it'),
        (error) => errors.push(error),
      );
      for (const error of errors) {
        assert.equal(error.code, ErrorCode.INVALID_TASK_FIELD, error.message);
        assert.equal(error.field, field);
        assert.match(error.message, reason);
        assert.ok(error.message.includes(`field "${field}"`), error.message);
      }
      assert.equal(errors[0]?.message, errors[1]?.message);
    });
  }

  it('a task class with a #private member (the worker would not have it)', async () => {
    for (const call of [
      () => pool.run(new Secret('')),
      () => queue.dispatch(new Secret(''), { queue: 'refused' }),
    ]) {
      await assert.rejects(call(), (error: Error & { code?: string; field?: string }) => {
        assert.equal(error.code, ErrorCode.INVALID_TASK_FIELD);
        assert.equal(error.field, '#secret');
        return true;
      });
    }
    assert.deepEqual(await queue.stats('refused'), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
  });
});

describe('what producers in other languages write: plain JSON, and tags', () => {
  it('plain JSON decodes to itself; tagged values arrive as their types', async () => {
    const file = join(dir, 'producer.log');
    const value = {
      plain: { $type: 'x', value: [1, { multitask: true }], '$multitask ': 'a lookalike key' },
      when: { $multitask: 'Date', value: '2026-12-01T10:00:00+00:00' },
      big: { $multitask: 'BigInt', value: '-123456789012345678901' },
      tags: { $multitask: 'Set', value: ['a', { $multitask: 'URL', value: 'https://example.com/x' }] },
    };
    const body = JSON.stringify({ v: 1, task: 'Inspect', fields: { file, value } });
    await queue.dispatchMessage('producer', body);
    const consumer = pool.consume(queue, { queue: 'producer' });
    await eventually(() => readLines(file).length > 0);
    await consumer.stop();
    assert.equal(
      readLines(file)[0],
      look({
        plain: value.plain,
        when: new Date('2026-12-01T10:00:00Z'),
        big: -123456789012345678901n,
        tags: new Set(['a', new URL('https://example.com/x')]),
      }),
    );
  });

  it('a malformed tag sends the job to the failed store at once (ERR_BAD_MESSAGE) naming the field', async () => {
    const value = { at: { $multitask: 'Date', value: 'not a date' } };
    const body = JSON.stringify({ v: 1, task: 'Inspect', fields: { file: '', value }, attempts: 1 });
    await queue.dispatchMessage('malformed', body);
    const consumer = pool.consume(queue, { queue: 'malformed' });
    await eventually(async () => (await queue.stats('malformed')).failed === 1);
    await consumer.stop();
    const [failed] = await queue.failed('malformed');
    // A job that can never run is not a job: no attempts spent on it (see queue-bad-input.test.ts).
    assert.equal(failed?.error.code, ErrorCode.BAD_MESSAGE);
    assert.match(failed?.error.message ?? '', /value\.at/);
  });
});

describe('finding #private members in a class source', () => {
  const cases: Array<[string, string | undefined]> = [
    ['class A { #x = 1; }', '#x'],
    ['class A {\n  a = 1\n  #b\n}', '#b'],
    ['class A { #m() { return 1; } }', '#m'],
    ['class A { get #v() { return 1; } }', '#v'],
    ['class A { static #count = 0; static #next() { return A.#count++; } }', undefined],
    ['class A { static {\n this.#y = 1; } static #y; }', undefined],
    ['class A { a = "#x"; b = `#y`; /* #z */ c = 1; // #w\n }', undefined],
    ['class A { run() { return this.#fromOuterClass; } }', undefined],
    ['class A extends B { constructor(readonly n) { super(); } run() { return "#"; } }', undefined],
  ];
  for (const [source, expected] of cases) {
    it(`${JSON.stringify(source)} -> ${expected ?? 'none'}`, () => {
      assert.equal(scanClassSource(source), expected);
    });
  }

  it('an inherited #private member counts: the worker skips every constructor', () => {
    class Child extends Secret {}
    assert.equal(privateInstanceMember(new Child('')), '#secret');
    assert.equal(privateInstanceMember(new Inspect('', 1)), undefined);
  });
});

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as string);
  } catch {
    return [];
  }
}
