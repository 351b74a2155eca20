// The waits behind queue.call and queue.result (src/queue/results.ts), without a broker: how a
// wait ends (outcome, waitMs, signal, lost, close), what is kept for queue.result and for how
// long, and that an outcome nobody waits for costs nothing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from '../src/index.js';
import { ResultWaits } from '../src/queue/results.js';
import { failure } from './helpers.js';

const forever = { waitMs: Number.POSITIVE_INFINITY, signal: undefined };
const tagged = { at: { $multitask: 'Date', value: '2026-01-02T03:04:05.000Z' } };

describe('result waits', () => {
  test('a wait resolves with the decoded value, and the job is forgotten', async () => {
    const waits = new ResultWaits(60_000);
    waits.expect('a', false, 'Fib');
    const waiting = waits.wait('a', forever);
    assert.equal(waits.outstanding(), 1);
    waits.settled('a', { ok: true, value: structuredClone(tagged) });
    assert.deepEqual(await waiting, { at: new Date('2026-01-02T03:04:05.000Z') });
    assert.equal(waits.has('a'), false, 'not kept: nobody asked to');
    assert.equal(waits.outstanding(), 0);
    waits.settled('a', { ok: true, value: 2 }); // a second answer (a job run twice) is dropped
    assert.equal(waits.has('a'), false);
  });

  test("a failure rejects as pool.run would: the task's error as cause, multitask's own by its code", async () => {
    const waits = new ResultWaits(60_000);
    waits.expect('task', false, 'Fib');
    waits.expect('crash', false, 'Fib');
    const task = failure(waits.wait('task', forever));
    const crash = failure(waits.wait('crash', forever));
    waits.settled('task', {
      ok: false,
      error: { name: 'RangeError', message: 'no', stack: 'RangeError: no\n    at run', code: 'E_OWN' },
    });
    waits.settled('crash', {
      ok: false,
      error: { name: 'MultitaskError', message: 'died', code: ErrorCode.WORKER_CRASHED },
    });
    const taskError = await task;
    assert.equal(taskError.code, ErrorCode.TASK_FAILED);
    assert.equal(taskError.taskName, 'Fib');
    const cause = taskError.cause as Error & { code?: string };
    assert.deepEqual([cause.name, cause.message, cause.code], ['RangeError', 'no', 'E_OWN']);
    assert.equal(cause.stack, 'RangeError: no\n    at run');
    assert.equal((await crash).code, ErrorCode.WORKER_CRASHED);
  });

  test('waitMs and a signal end the wait only; the entry goes once nobody waits', async () => {
    const waits = new ResultWaits(60_000);
    waits.expect('slow', false);
    assert.equal(
      (await failure(waits.wait('slow', { waitMs: 20, signal: undefined }))).code,
      ErrorCode.RESULT_TIMEOUT,
    );
    assert.equal(waits.expecting('slow'), false);
    assert.equal(waits.outstanding(), 0);
    const controller = new AbortController();
    waits.expect('aborted', false);
    const aborted = failure(waits.wait('aborted', { waitMs: 60_000, signal: controller.signal }));
    controller.abort(new Error('enough'));
    const error = await aborted;
    assert.equal(error.name, 'AbortError');
    assert.equal((error.cause as Error).message, 'enough');
    assert.equal(waits.outstanding(), 0);
  });

  test('two waits on one job each get their own copy', async () => {
    const waits = new ResultWaits(60_000);
    waits.expect('both', false);
    const first = waits.wait('both', forever);
    const second = waits.wait('both', forever);
    waits.settled('both', { ok: true, value: { list: [1] } });
    const [a, b] = (await Promise.all([first, second])) as Array<{ list: number[] }>;
    assert.deepEqual(a, b);
    assert.notEqual(a, b);
  });

  test('a kept outcome is read again until its TTL, then forgotten', async () => {
    const waits = new ResultWaits(50);
    waits.expect('kept', true);
    waits.settled('kept', { ok: true, value: 7 });
    assert.equal(await waits.wait('kept', forever), 7);
    assert.equal(await waits.wait('kept', forever), 7);
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(waits.has('kept'), false);
  });

  test('a second wait for an id still awaited is refused; a settled one may be reused', async () => {
    const waits = new ResultWaits(60_000);
    waits.expect('id', true);
    assert.throws(() => waits.expect('id', false), { code: ErrorCode.INVALID_OPTION });
    waits.settled('id', { ok: true, value: 1 });
    waits.expect('id', false);
    assert.equal(waits.expecting('id'), true);
  });

  test('lost and close reject what waits with ERR_RESULT_LOST; a kept one stays lost', async () => {
    const waits = new ResultWaits(60_000);
    waits.expect('lost', false);
    waits.expect('kept', true);
    waits.expect('open', false);
    const lost = failure(waits.wait('lost', forever));
    const open = failure(waits.wait('open', forever));
    waits.lost(['lost', 'kept', 'unknown'], 'the channel closed');
    const error = await lost;
    assert.equal(error.code, ErrorCode.RESULT_LOST);
    assert.match(error.message, /job lost .*the channel closed/);
    assert.equal((await failure(waits.wait('kept', forever))).code, ErrorCode.RESULT_LOST);
    waits.close();
    assert.equal((await open).code, ErrorCode.RESULT_LOST);
    assert.equal(waits.outstanding(), 0);
  });

  test('a dispatch that failed rejects its waits with its own error', async () => {
    const waits = new ResultWaits(60_000);
    waits.expect('unsent', false);
    const waiting = failure(waits.wait('unsent', forever));
    waits.abandon('unsent', Object.assign(new Error('broker down'), { code: ErrorCode.BROKER_UNAVAILABLE }));
    assert.equal((await waiting).code, ErrorCode.BROKER_UNAVAILABLE);
    assert.equal(waits.has('unsent'), false);
  });
});
