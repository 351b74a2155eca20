// Many calls on one abort signal cost one listener (src/pool/signal-watch.ts): every call
// still watched hears the abort once, a call that left does not, and the listener goes with
// the last call.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { SignalWatch } from '../src/pool/signal-watch.js';

describe('SignalWatch', () => {
  test('one listener per signal, however many items; an abort reaches each item still watched, once', () => {
    const aborted: number[] = [];
    const watch = new SignalWatch<number>((item) => {
      aborted.push(item);
      watch.delete(controller.signal, item); // as a settled call does, while the abort runs
    });
    const controller = new AbortController();
    for (let item = 0; item < 1_000; item++) watch.add(controller.signal, item);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    for (let item = 0; item < 1_000; item += 2) watch.delete(controller.signal, item);
    controller.abort();
    assert.equal(aborted.length, 500);
    assert.ok(aborted.every((item) => item % 2 === 1));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });

  test('the listener goes with the last item, and comes back with the next', () => {
    const watch = new SignalWatch<string>(() => assert.fail('nothing aborts'));
    const { signal } = new AbortController();
    watch.add(signal, 'a');
    watch.add(signal, 'b');
    watch.delete(signal, 'a');
    assert.equal(getEventListeners(signal, 'abort').length, 1);
    watch.delete(signal, 'b');
    watch.delete(signal, 'b');
    assert.equal(getEventListeners(signal, 'abort').length, 0);
    watch.add(signal, 'c');
    assert.equal(getEventListeners(signal, 'abort').length, 1);
  });
});
