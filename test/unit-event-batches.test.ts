/**
 * The feed's wire form, both ends: what an instance batches (a start folded into its job's
 * ending, the worker read at send time, times relative to the batch) and what a listener makes
 * of it again (both events, in `seq` order, with their own times).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventBatches } from '../src/queue/event-batches.js';
import { unfold } from '../src/queue/feed-listener.js';
import { FLUSH_MAX_EVENTS, type WireEvent } from '../src/queue/fleet-types.js';

describe('event batches', () => {
  it('fold a start into its ending, and the listener yields both again in seq order', () => {
    const batches = new EventBatches();
    const call = { workerId: undefined as number | undefined };
    const now = Date.now();
    assert.equal(batches.add('q', ['started', 'a', 'T', 1, call, null, now - 30, 1]), true);
    assert.equal(batches.add('q', ['dispatched', 'b', 'T', 1, null, null, now - 20, 2]), false);
    batches.add('q', ['completed', 'a', 'T', 1, 3, 12.5, now - 10, 3]);
    batches.add('q', ['started', 'c', 'T', 2, { workerId: 4 }, null, now - 5, 4]);
    call.workerId = 3; // the pool picks the worker after the event was made
    const { t0, batches: taken } = batches.take();
    assert.equal(batches.empty, true);
    assert.equal(taken.length, 1);
    const [queue, json] = taken[0]!;
    assert.equal(queue, 'q');
    const wire = JSON.parse(json) as WireEvent[];
    assert.deepEqual(
      wire.map((event) => [event[0], event[1], event[7]]),
      [
        ['dispatched', 'b', 2],
        ['completed', 'a', 3],
        ['started', 'c', 4],
      ],
      'the start of a travels with its ending; the start of c, still running, alone',
    );
    const events = unfold(wire, 'i1', 'q', t0);
    assert.deepEqual(
      events.map((event) => [event.type, event.id, event.seq, event.worker, event.time.getTime()]),
      [
        ['started', 'a', 1, 3, now - 30],
        ['dispatched', 'b', 2, undefined, now - 20],
        ['completed', 'a', 3, 3, now - 10],
        ['started', 'c', 4, 4, now - 5],
      ],
    );
    assert.equal(events[2]!.durationMs, 12.5);
    assert.equal(events[0]!.durationMs, undefined);
    assert.equal('error' in events[2]!, false);
  });

  it('keep a failure’s code and message, folded or not', () => {
    const batches = new EventBatches();
    const now = Date.now();
    batches.add('q', ['started', 'a', 'T', 2, 1, null, now, 1]);
    batches.add('q', ['failed', 'a', 'T', 2, 1, 3, now, 2, 'E_X', 'boom']);
    batches.add('q', ['retried', 'b', 'T', 1, 2, 3, now, 3, null, 'no code']);
    const { t0, batches: taken } = batches.take();
    const events = unfold(JSON.parse(taken[0]![1]) as WireEvent[], 'i1', 'q', t0);
    assert.deepEqual(
      events.map((event) => [event.type, event.error]),
      [
        ['started', undefined],
        ['failed', { code: 'E_X', message: 'boom' }],
        ['retried', { code: undefined, message: 'no code' }],
      ],
    );
  });

  it(`hold at most ${FLUSH_MAX_EVENTS} events of a queue between two sends`, () => {
    const batches = new EventBatches();
    for (let seq = 1; seq <= FLUSH_MAX_EVENTS + 5; seq++)
      batches.add('q', ['dispatched', `j${seq}`, 'T', 1, null, null, 0, seq]);
    batches.add('other', ['dispatched', 'x', 'T', 1, null, null, 0, 1]);
    const { batches: taken } = batches.take();
    const counts = Object.fromEntries(
      taken.map(([queue, json]) => [queue, (JSON.parse(json) as unknown[]).length]),
    );
    assert.deepEqual(counts, { q: FLUSH_MAX_EVENTS, other: 1 });
  });
});
