import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, Task, type TaskContext } from '../src/index.js';
import { rebuildTask } from '../src/task/fields.js';
import { Born, Echo, Fib, Inc } from './fixtures/tasks.js';
import { withPool } from './helpers.js';

class Unregistered extends Task<number> {
  run(): number {
    return 1;
  }
}

describe('tasks', () => {
  it('run inline, oblivious of workers', async () => {
    const ctx = {
      app: undefined,
      signal: new AbortController().signal,
      attempt: 1,
      log: console,
    } as unknown as TaskContext;
    assert.equal(new Fib(10).run(), 55);
    assert.equal(new Inc(41).run(), 42);
    assert.ok(ctx.signal instanceof AbortSignal);
  });

  it('cross to a worker as name plus own fields, rebuilt on the class prototype', async () => {
    await withPool({}, async (pool) => {
      const nested = { list: [1, 2, { deep: 'yes' }], when: new Date(0), bytes: new Uint8Array([7, 8]) };
      const result = (await pool.run(new Echo(nested))) as { value: typeof nested; greeting: string };
      assert.deepEqual(result.value, nested);
      assert.equal(result.greeting, 'hello');
    });
  });

  it('are rebuilt on their class even when a message carries a "__proto__" field', () => {
    const fields = JSON.parse('{"__proto__":{"run":"not a function"},"n":7}') as Record<string, unknown>;
    const task = rebuildTask(Fib, fields) as Fib;
    assert.ok(task instanceof Fib, 'the prototype is the class, not the field');
    assert.equal(task.n, 7);
    assert.equal(typeof task.run, 'function');
  });

  it('are rebuilt without calling the constructor', async () => {
    await withPool({}, async (pool) => {
      const { bornIn, ranIn } = await pool.run(new Born());
      assert.equal(bornIn, 0, 'field initializers ran in the main thread only');
      assert.notEqual(ranIn, 0, 'run() ran in a worker thread');
    });
  });

  it('refuses a class that is not in the app registry with ERR_TASK_NOT_REGISTERED', async () => {
    await withPool({}, async (pool) => {
      await assert.rejects(pool.run(new Unregistered()), (error: Error & { code?: string }) => {
        assert.equal(error.code, ErrorCode.TASK_NOT_REGISTERED);
        assert.match(error.message, /Unregistered is not registered/);
        assert.match(error.message, /registered: Inc, Fib/);
        return true;
      });
    });
  });

  for (const [label, value, path] of [
    ['a function', () => 1, 'callback'],
    ['a function deep inside', { a: [{ b: () => 1 }] }, 'callback.a[0].b'],
    ['a promise', Promise.resolve(1), 'callback'],
    ['a symbol', Symbol('s'), 'callback'],
  ] as const) {
    it(`refuses a field holding ${label} at the call site, naming the field`, async () => {
      await withPool({}, async (pool) => {
        const task = new Echo(1) as Echo & { callback: unknown };
        task.callback = value;
        await assert.rejects(pool.run(task), (error: Error & { code?: string; field?: string }) => {
          assert.equal(error.code, ErrorCode.INVALID_TASK_FIELD);
          assert.equal(error.field, path);
          assert.match(error.message, new RegExp(`field "${path.replace(/[[\].]/g, '\\$&')}"`));
          return true;
        });
        // The pool is unharmed.
        assert.equal(await pool.run(new Inc(1)), 2);
      });
    });
  }
});
