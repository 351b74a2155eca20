import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { ErrorCode, Pool, type PoolOptions } from '../src/index.js';
import { resolveSize } from '../src/pool/sizing.js';
import { Inc } from './fixtures/tasks.js';
import { FIXTURE_APP, withPool } from './helpers.js';

function invalid(option: string, quoted: string) {
  return (error: Error & { code?: string; field?: string }) => {
    assert.equal(error.code, ErrorCode.INVALID_OPTION);
    assert.equal(error.field, option);
    assert.ok(error.message.includes(`"${option}"`), `names the option: ${error.message}`);
    assert.ok(error.message.includes(quoted), `quotes the value ${quoted}: ${error.message}`);
    return true;
  };
}

describe('pool options', () => {
  it('size: integers are counts, shares and percentages of the CPUs round up, at least 1', () => {
    assert.equal(resolveSize(3, 'size', 4), 3);
    assert.equal(resolveSize(0.5, 'size', 4), 2);
    assert.equal(resolveSize(0.3, 'size', 4), 2);
    assert.equal(resolveSize('50%', 'size', 4), 2);
    assert.equal(resolveSize('150%', 'size', 4), 6);
    assert.equal(resolveSize('1%', 'size', 4), 1);
    assert.equal(resolveSize(2.5, 'size', 2), 5);
    assert.equal(resolveSize('7', 'size', 4), 7);
    assert.equal(resolveSize('0.25', 'size', 8), 2);
  });

  for (const size of [
    0,
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    '',
    'many',
    '0%',
    '-50%',
    '50 %x',
    true,
    null,
    {},
  ]) {
    it(`size ${JSON.stringify(size) ?? String(size)} is refused with ERR_INVALID_OPTION quoting it`, () => {
      assert.throws(
        () => new Pool({ app: FIXTURE_APP, size: size as never }),
        invalid(
          'size',
          typeof size === 'string'
            ? JSON.stringify(size)
            : String(size === null ? 'null' : typeof size === 'object' ? '{}' : size),
        ),
      );
    });
  }

  it('does not read the environment: with no size, one worker per CPU whatever MULTITASK_WORKERS says', async () => {
    // MULTITASK_WORKERS belongs to the command line, which passes it as `size`.
    const saved = process.env.MULTITASK_WORKERS;
    try {
      process.env.MULTITASK_WORKERS = 'lots';
      const pool = new Pool({ app: FIXTURE_APP });
      assert.equal(pool.size, availableParallelism());
      await pool.close();
    } finally {
      if (saved === undefined) delete process.env.MULTITASK_WORKERS;
      else process.env.MULTITASK_WORKERS = saved;
    }
  });

  it('refuses a log level it does not know', () => {
    assert.throws(
      () => new Pool({ app: FIXTURE_APP, logLevel: 'loud' as never }),
      invalid('logLevel', '"loud"'),
    );
  });

  const cases: Array<[string, Partial<PoolOptions>, string, string]> = [
    ['concurrency 0', { concurrency: 0 }, 'concurrency', '0'],
    ['concurrency 1.5', { concurrency: 1.5 }, 'concurrency', '1.5'],
    ['graceMs -1', { graceMs: -1 }, 'graceMs', '-1'],
    ['restart.maxRestarts -1', { restart: { maxRestarts: -1 } }, 'restart.maxRestarts', '-1'],
    [
      'restart.initialDelayMs "soon"',
      { restart: { initialDelayMs: 'soon' as never } },
      'restart.initialDelayMs',
      '"soon"',
    ],
    [
      'restart.maxDelayMs below initialDelayMs',
      { restart: { initialDelayMs: 500, maxDelayMs: 100 } },
      'restart.maxDelayMs',
      '100',
    ],
    ['recycle.maxTasks 0', { recycle: { maxTasks: 0 } }, 'recycle.maxTasks', '0'],
    ['recycle.maxHeapMb -5', { recycle: { maxHeapMb: -5 } }, 'recycle.maxHeapMb', '-5'],
    [
      'resourceLimits.maxOldGenerationSizeMb 0',
      { resourceLimits: { maxOldGenerationSizeMb: 0 } },
      'resourceLimits.maxOldGenerationSizeMb',
      '0',
    ],
    [
      'resourceLimits with an unknown key',
      { resourceLimits: { heap: 5 } as never },
      'resourceLimits.heap',
      '5',
    ],
    ['execArgv not an array', { execArgv: '--inspect' as never }, 'execArgv', '"--inspect"'],
    ['app empty', { app: '' }, 'app', '""'],
  ];
  for (const [label, options, option, quoted] of cases) {
    it(`${label} is refused with ERR_INVALID_OPTION`, () => {
      assert.throws(() => new Pool({ app: FIXTURE_APP, size: 1, ...options }), invalid(option, quoted));
    });
  }

  it('run options are checked: timeoutMs, signal, transfer', async () => {
    await withPool({}, async (pool) => {
      await assert.rejects(pool.run(new Inc(1), { timeoutMs: 0 }), invalid('timeoutMs', '0'));
      await assert.rejects(pool.run(new Inc(1), { signal: {} as never }), invalid('signal', '{}'));
      await assert.rejects(pool.run(new Inc(1), { transfer: 'x' as never }), invalid('transfer', '"x"'));
    });
  });

  it('supervise and resize options are checked', async () => {
    await withPool({}, async (pool) => {
      assert.throws(() => pool.supervise(new Inc(1), { replicas: 0 }), invalid('replicas', '0'));
      assert.throws(
        () => pool.supervise(new Inc(1), { restart: { windowMs: -1 } }),
        invalid('restart.windowMs', '-1'),
      );
      // @ts-expect-error: a PoolSize is a number or a percentage; the call checks at run time too
      await assert.rejects(pool.resize('none'), invalid('size', '"none"'));
      await assert.rejects(pool.resize(0), invalid('size', '0'));
    });
  });

  it('an app module that cannot be imported fails calls with ERR_APP_INVALID', async () => {
    const pool = new Pool({ app: new URL('./fixtures/missing-app.ts', import.meta.url), size: 1 });
    await assert.rejects(
      pool.run(new Inc(1)),
      (error: Error & { code?: string }) => error.code === ErrorCode.APP_INVALID,
    );
    await pool.close();
  });
});
