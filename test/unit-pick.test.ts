/** Where the pool sends the next calls: the choice of a worker and of a batch, over plain numbers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  batchSize,
  capacity,
  MAX_BATCH,
  MAX_PREFETCH,
  pickWorker,
  type WorkerLoad,
} from '../src/pool/pick.js';

type Named = WorkerLoad & { name: string };

function worker(name: string, load: number, avgRunMs?: number, more: Partial<WorkerLoad> = {}): Named {
  return { name, accepting: true, load, exclusive: 0, avgRunMs, ...more };
}

describe('pickWorker', () => {
  it('takes the worker with the most free slots', () => {
    const workers = [worker('a', 3), worker('b', 1), worker('c', 2)];
    assert.equal(pickWorker(workers, 4, false)?.name, 'b');
  });

  it('ignores workers that do not accept calls (booting, stopping)', () => {
    const workers = [worker('a', 0, undefined, { accepting: false }), worker('b', 1)];
    assert.equal(pickWorker(workers, 2, false)?.name, 'b');
    assert.equal(pickWorker([worker('a', 0, undefined, { accepting: false })], 2, false), undefined);
  });

  it('with every slot taken, prefetches into the worker whose short tasks earn the most room', () => {
    const workers = [worker('slow', 1, 2), worker('fast', 1, 0.1), worker('new', 1)];
    assert.equal(pickWorker(workers, 1, false)?.name, 'fast');
  });

  it('prefetches nothing into a worker whose speed is not known yet', () => {
    assert.equal(pickWorker([worker('new', 1)], 1, false), undefined);
  });

  it('gives a long-running (exclusive) call a free slot only, never a prefetch', () => {
    assert.equal(pickWorker([worker('fast', 1, 0.1)], 1, true), undefined);
    assert.equal(pickWorker([worker('fast', 1, 0.1), worker('free', 0, 5)], 1, true)?.name, 'free');
  });

  it('prefers a free slot to any amount of prefetch room', () => {
    const workers = [worker('fast', 1, 0.01), worker('free', 1, 50)];
    assert.equal(
      pickWorker(workers, 2, false)?.name,
      'fast',
      'both have a free slot: the first one with most',
    );
    assert.equal(pickWorker([worker('fast', 2, 0.01), worker('free', 1, 50)], 2, false)?.name, 'free');
  });
});

describe('capacity', () => {
  it('is the free slots plus a prefetch of about 4 ms of work, at most MAX_PREFETCH', () => {
    assert.equal(capacity(worker('w', 0), 2), 2, 'no prefetch before the first result');
    assert.equal(capacity(worker('w', 0, 1), 2), 2 + 4);
    assert.equal(capacity(worker('w', 3, 0.5), 2), 2 + 8 - 3);
    assert.equal(capacity(worker('w', 0, 0), 1), 1 + MAX_PREFETCH, 'instant tasks hit the ceiling');
    assert.equal(capacity(worker('w', 1, 10), 1), 0, 'tasks longer than the budget: no prefetch');
  });

  it('is no prefetch next to a long-running call', () => {
    assert.equal(capacity(worker('w', 1, 0.1, { exclusive: 1 }), 2), 1);
  });
});

describe('batchSize', () => {
  it('fills free slots first, so work spreads before anything is prefetched', () => {
    assert.equal(batchSize(worker('w', 1, 0.01), 4), 3);
  });

  it('then sends at most MAX_BATCH of the prefetch room in one message', () => {
    assert.equal(batchSize(worker('w', 4, 0.01), 4), MAX_BATCH);
    assert.equal(batchSize(worker('w', 4, 0.5), 4), 8);
  });
});
