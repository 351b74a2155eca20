/** Grace periods and the second-request rule every stop follows, on fake timers. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Grace, GracefulStop } from '../src/internal/grace.js';

/** Lets promise callbacks run (fake timers do not touch microtasks). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function watch(promise: Promise<unknown>): () => boolean {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  return () => done;
}

describe('Grace', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('ends when its time runs out', async () => {
    const grace = new Grace(1_000);
    const over = watch(grace.over);
    mock.timers.tick(999);
    await settle();
    assert.equal(over(), false);
    assert.equal(grace.ended, false);
    mock.timers.tick(1);
    await settle();
    assert.equal(over(), true);
    assert.equal(grace.ended, true);
    assert.equal(grace.remainingMs(), 0);
  });

  it('ends at once when cut short', async () => {
    const grace = new Grace(60_000);
    const over = watch(grace.over);
    await settle();
    assert.equal(over(), false);
    grace.cut();
    await settle();
    assert.equal(over(), true, 'no timer had to fire');
    assert.equal(grace.ended, true);
  });

  it('once disposed (the work finished first) never ends', async () => {
    const grace = new Grace(1_000);
    const over = watch(grace.over);
    grace.dispose();
    mock.timers.tick(5_000);
    await settle();
    assert.equal(over(), false);
  });
});

describe('GracefulStop', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('stops once: a second request returns the same promise and does not stop again', async () => {
    const stop = new GracefulStop();
    let runs = 0;
    const body = async () => {
      runs++;
    };
    const first = stop.request(1_000, body);
    assert.equal(stop.requested, true);
    assert.equal(stop.request(5_000, body), first);
    await first;
    assert.equal(runs, 1);
  });

  it('a second request with graceMs 0 cuts the grace of the stop in progress', async () => {
    const stop = new GracefulStop();
    let grace: Grace | undefined;
    const done = stop.request(60_000, async (given) => {
      grace = given;
      await given.over;
    });
    const finished = watch(done);
    stop.request(10, async () => {});
    await settle();
    assert.equal(finished(), false, 'a second request with a grace leaves the first one alone');
    stop.request(0, async () => {});
    await settle();
    assert.equal(grace?.ended, true);
    assert.equal(finished(), true);
  });

  it('lets the grace run its course when nobody asks again', async () => {
    const stop = new GracefulStop();
    const finished = watch(stop.request(500, (grace) => grace.over));
    mock.timers.tick(499);
    await settle();
    assert.equal(finished(), false);
    mock.timers.tick(1);
    await settle();
    assert.equal(finished(), true);
  });
});
