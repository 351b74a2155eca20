import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, Pool } from '../src/index.js';
import { Inc, Listen, Sleep, Spin } from './fixtures/tasks.js';
import { eventually, FIXTURE_APP, failure, record, runScript } from './helpers.js';

describe('close', () => {
  it('refuses new work with ERR_POOL_CLOSED', async () => {
    const pool = new Pool({ app: FIXTURE_APP, size: 1 });
    await pool.run(new Inc(1));
    const closing = pool.close();
    assert.equal((await failure(pool.run(new Inc(1)))).code, ErrorCode.POOL_CLOSED);
    await closing;
    assert.equal((await failure(pool.run(new Inc(1)))).code, ErrorCode.POOL_CLOSED);
    assert.equal(pool.stats().state, 'closed');
    assert.equal(pool.stats().workers.length, 0);
  });

  it("aborts running tasks' signals: a task that stops in time resolves, the queue is refused", async () => {
    const pool = new Pool({ app: FIXTURE_APP, size: 1 });
    const listening = pool.run(new Listen());
    await eventually(() => pool.stats().workers[0]?.state === 'busy');
    const queued = failure(pool.run(new Inc(1)));
    await pool.close({ graceMs: 5_000 });
    assert.equal(await listening, 'stopped');
    assert.equal((await queued).code, ErrorCode.POOL_CLOSED);
  });

  it('terminates what ignores its signal after the grace, rejecting it with ERR_POOL_CLOSED', async () => {
    const pool = new Pool({ app: FIXTURE_APP, size: 2, concurrency: 1 });
    const online = record(pool, 'workerOnline');
    await eventually(() => online.length === 2);
    const spinning = failure(pool.run(new Spin()));
    const sleeping = pool.run(new Sleep(60_000, true));
    await eventually(() => pool.stats().workers.every((worker) => worker.state === 'busy'));
    const exits = record(pool, 'workerExit');
    await pool.close({ graceMs: 300 });
    assert.equal((await spinning).code, ErrorCode.POOL_CLOSED);
    assert.equal(await sleeping, 'aborted', 'the cooperative task saw its signal and returned');
    assert.equal(exits.length, 2);
    assert.deepEqual(exits.map((exit) => exit.reason).sort(), ['close', 'close']);
  });

  it('is idempotent: a second close returns the same promise', async () => {
    const pool = new Pool({ app: FIXTURE_APP, size: 1 });
    const first = pool.close();
    assert.equal(pool.close(), first);
    await first;
  });

  it('leaves no handle behind: a process that closes its pool exits by itself', () => {
    const child = runScript(new URL('./fixtures/close-and-exit.ts', import.meta.url));
    assert.equal(child.error, undefined, 'the process ended on its own within 30 s');
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /results 2,3,4/);
    assert.match(child.stdout, /closed/);
  });

  it('an idle pool never keeps the process alive, even without close', () => {
    const child = runScript(new URL('./fixtures/forget-to-close.ts', import.meta.url));
    assert.equal(child.error, undefined, 'the process ended on its own within 30 s');
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /result 2/);
  });
});
