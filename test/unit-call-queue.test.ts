/** The pool's FIFO of calls waiting for a worker, without threads. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Call, createCall } from '../src/pool/call.js';
import { CallQueue } from '../src/pool/call-queue.js';

function calls(...ids: number[]): Call[] {
  return ids.map((id) => {
    const call = createCall(id, { name: `T${id}`, fields: {} });
    call.promise.catch(() => {});
    return call;
  });
}

function drain(queue: CallQueue): number[] {
  const ids: number[] = [];
  for (let call = queue.shift(); call !== undefined; call = queue.shift()) ids.push(call.id);
  return ids;
}

describe('CallQueue', () => {
  it('hands calls out first in, first out, and counts what waits', () => {
    const queue = new CallQueue();
    for (const call of calls(1, 2, 3)) queue.push(call);
    assert.equal(queue.size, 3);
    assert.equal(queue.peek()?.id, 1, 'peek does not remove');
    assert.equal(queue.size, 3);
    assert.deepEqual(drain(queue), [1, 2, 3]);
    assert.equal(queue.size, 0);
    assert.equal(queue.peek(), undefined);
  });

  it('skips a call settled while it waited (aborted) once it is forgotten', () => {
    const queue = new CallQueue();
    const [first, second, third] = calls(1, 2, 3);
    for (const call of [first!, second!, third!]) queue.push(call);
    second!.settled = true;
    queue.forget();
    assert.equal(queue.size, 2);
    assert.deepEqual(drain(queue), [1, 3]);
  });

  it('puts calls given back at the head, in their original order, ahead of newer ones', () => {
    const queue = new CallQueue();
    const [one, two, three, four] = calls(1, 2, 3, 4);
    for (const call of [one!, two!, three!, four!]) queue.push(call);
    assert.deepEqual([queue.shift()?.id, queue.shift()?.id, queue.shift()?.id], [1, 2, 3]);
    queue.unshiftAll([three!, one!]);
    assert.equal(queue.size, 3);
    assert.deepEqual(drain(queue), [1, 3, 4]);
  });

  it('gives back calls into an emptied queue too', () => {
    const queue = new CallQueue();
    const [one, two] = calls(1, 2);
    queue.unshiftAll([two!, one!]);
    assert.deepEqual(drain(queue), [1, 2]);
  });

  it('takes out every live call a filter accepts and keeps the others in order', () => {
    const queue = new CallQueue();
    const all = calls(1, 2, 3, 4, 5);
    for (const call of all) queue.push(call);
    queue.shift();
    all[3]!.settled = true;
    queue.forget();
    const taken = queue.takeAll((call) => call.id % 2 === 1);
    assert.deepEqual(
      taken.map((call) => call.id),
      [3, 5],
      'settled and already shifted calls are not taken',
    );
    assert.equal(queue.size, 1);
    assert.deepEqual(drain(queue), [2]);
  });

  it('stays correct over many pushes and shifts (its storage is reused)', () => {
    const queue = new CallQueue();
    let next = 1;
    const seen: number[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 7; i++) queue.push(calls(next++)[0]!);
      for (let i = 0; i < 5; i++) seen.push(queue.shift()!.id);
    }
    seen.push(...drain(queue));
    assert.deepEqual(
      seen,
      Array.from({ length: 350 }, (_, i) => i + 1),
    );
  });
});
