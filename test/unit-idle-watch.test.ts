// IdleWatch, the rule behind consumer.onIdle() and `drained`: it asks the queue only when the
// consumer holds nothing and someone cares, and while jobs stay ready it looks again on a
// timer, never in a busy loop. Mocked timers: the test steps time instead of sleeping.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { setImmediate as flush } from 'node:timers/promises';
import { IDLE_RECHECK_MS, IdleWatch } from '../src/pool/idle-watch.js';

function fakeHost() {
  const host = {
    held: 0,
    ready: 0,
    looks: 0,
    listeners: false,
    drains: 0,
    holding: () => host.held,
    readyInQueue: async () => {
      host.looks++;
      return host.ready;
    },
    listening: () => host.listeners,
    drained: () => {
      host.drains++;
    },
  };
  return host;
}

/** Moves mocked time on by `ms`, letting the looks' promises settle. */
async function advance(ms: number) {
  for (let t = 0; t < ms; t += 5) {
    mock.timers.tick(5);
    await flush();
  }
}

describe('IdleWatch', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  test('asks nothing while nobody waits or listens', async () => {
    const host = fakeHost();
    const watch = new IdleWatch(host);
    watch.busy();
    watch.settled();
    await advance(2_000);
    assert.equal(host.looks, 0);
  });

  test('resolves waiters and emits drained once per idle spell', async () => {
    const host = fakeHost();
    host.listeners = true;
    const watch = new IdleWatch(host);
    let resolved = false;
    void watch.wait().then(() => {
      resolved = true;
    });
    await advance(20);
    assert.ok(resolved);
    assert.equal(host.drains, 1);
    watch.settled(); // no job taken since: still the same idle spell
    await advance(20);
    assert.equal(host.drains, 1);
    watch.busy();
    watch.settled();
    await advance(20);
    assert.equal(host.drains, 2, 'a new spell after a job');
  });

  test('does not resolve while a job is held, nor while jobs stay ready; looks on a timer', async () => {
    const host = fakeHost();
    const watch = new IdleWatch(host);
    host.held = 1;
    let resolved = false;
    void watch.wait().then(() => {
      resolved = true;
    });
    await advance(1_000);
    assert.equal(host.looks, 0, 'holding a job: no look');
    assert.ok(!resolved);
    host.held = 0;
    host.ready = 3; // ready, but taken elsewhere
    watch.settled();
    await advance(IDLE_RECHECK_MS * 4);
    assert.ok(!resolved);
    assert.ok(host.looks >= 3 && host.looks <= 5, `one look per ${IDLE_RECHECK_MS} ms, got ${host.looks}`);
    host.ready = 0;
    await advance(IDLE_RECHECK_MS + 10);
    assert.ok(resolved);
  });

  test('stop resolves every waiter, and a stopped watch is idle', async () => {
    const host = fakeHost();
    host.held = 1;
    const watch = new IdleWatch(host);
    const waiting = watch.wait();
    watch.stop();
    await waiting;
    await watch.wait();
  });
});
