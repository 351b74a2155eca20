/** The restart policy: backoff with jitter, and the crash-loop window, on a fake clock. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { RestartTracker, resolveRestart } from '../src/pool/restart-policy.js';

const policy = resolveRestart({ initialDelayMs: 100, maxDelayMs: 1_000, maxRestarts: 3, windowMs: 10_000 });

describe('RestartTracker', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it('backs off exponentially with equal jitter: between half and all of the doubling delay', () => {
    const tracker = new RestartTracker({ ...policy, maxRestarts: 10 });
    const ceilings = [100, 200, 400, 800, 1_000, 1_000];
    for (const ceiling of ceilings) {
      const delay = tracker.next();
      assert.ok(
        delay !== undefined && delay >= ceiling / 2 && delay <= ceiling,
        `${delay} in [${ceiling / 2}, ${ceiling}]`,
      );
    }
  });

  it('gives up past maxRestarts failures within the window', () => {
    const tracker = new RestartTracker(policy);
    for (let i = 0; i < 3; i++) {
      assert.notEqual(tracker.next(), undefined);
      mock.timers.tick(1_000);
    }
    assert.equal(tracker.next(), undefined, 'the fourth failure in 10 s is a crash loop');
  });

  it('forgets failures older than the window: a slow trickle never gives up, and starts over small', () => {
    const tracker = new RestartTracker(policy);
    for (let i = 0; i < 20; i++) {
      const delay = tracker.next();
      assert.ok(delay !== undefined && delay <= 100, `failure ${i + 1} alone in its window: ${delay}`);
      mock.timers.tick(10_000);
    }
  });

  it('counts only the failures still inside the window', () => {
    const tracker = new RestartTracker(policy);
    tracker.next();
    mock.timers.tick(6_000);
    tracker.next();
    tracker.next();
    mock.timers.tick(4_000);
    // The first failure has left the window: this is the third in it, not the fourth.
    const delay = tracker.next();
    assert.ok(delay !== undefined && delay >= 200 && delay <= 400, `third in the window: ${delay}`);
    assert.equal(tracker.next(), undefined);
  });

  it('with maxRestarts 0, gives up at the first failure', () => {
    assert.equal(new RestartTracker({ ...policy, maxRestarts: 0 }).next(), undefined);
  });
});
