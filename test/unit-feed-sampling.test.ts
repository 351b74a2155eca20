/**
 * The event feed under a flood (src/queue/job-feed.ts): past FEED_FULL_RATE events a second it
 * sends whole jobs, one in k, never leaves out a failure, and counts every job in `seq` so that
 * a listener sees what was left out as a gap. Time is the test's own (mocked Date).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { WireEvent } from '../src/queue/fleet-types.js';
import { FEED_FULL_RATE, QueueFeed } from '../src/queue/job-feed.js';

const WORKER = { workerId: 1 };

function feedWithSink(): { feed: QueueFeed; sent: WireEvent[] } {
  const sent: WireEvent[] = [];
  const feed = new QueueFeed('q', (_queue, event) => sent.push(event));
  feed.active = true;
  return { feed, sent };
}

/** Runs `jobs` jobs (start then completion) spread evenly over one second of mocked time. */
function runSecond(feed: QueueFeed, prefix: string, jobs: number, failEvery = 0): void {
  for (let index = 0; index < jobs; index++) {
    const job = { id: `${prefix}-${index}`, task: 'T' };
    feed.started(job, 1, WORKER);
    const failed = failEvery > 0 && index % failEvery === 0;
    const error = failed ? { code: 'ERR_TASK_FAILED', message: 'no', stack: undefined } : undefined;
    feed.ended(failed ? 'failed' : 'completed', job, { id: job.id, attempt: 1 }, 1, 1, error as never);
    mock.timers.tick(1_000 / jobs);
  }
}

describe('the event feed under a flood', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it('sends every event below the rate', () => {
    const { feed, sent } = feedWithSink();
    runSecond(feed, 'a', FEED_FULL_RATE / 4);
    runSecond(feed, 'b', FEED_FULL_RATE / 4);
    assert.equal(sent.length, FEED_FULL_RATE);
  });

  it('samples whole jobs above it, keeps every failure, and numbers all of them', () => {
    const { feed, sent } = feedWithSink();
    const jobs = 10 * FEED_FULL_RATE; // 20 times the rate in events
    runSecond(feed, 'warm', jobs); // the first second of a flood goes out whole
    assert.equal(sent.length, 2 * jobs);
    sent.length = 0;
    runSecond(feed, 'flood', jobs, 100);
    const failures = sent.filter((event) => event[0] === 'failed');
    assert.equal(failures.length, jobs / 100, 'every failure is sent');
    const completed = sent.filter((event) => event[0] === 'completed');
    // One job in k = 20: about FEED_FULL_RATE / 2 jobs, each with its start (a hash: not exact).
    assert.ok(
      completed.length > jobs / 40 && completed.length < jobs / 10,
      `${completed.length} completions sent`,
    );
    const started = new Set(sent.filter((event) => event[0] === 'started').map((event) => event[1]));
    for (const event of completed)
      assert.ok(started.has(event[1]), `the start of ${event[1]} was sent with its end`);
    // seq counts every event offered, sent or not: the listener sees the rest as gaps.
    const seqs = sent.map((event) => event[7]);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
    // The flood second's events are numbers 2·jobs+1 … 4·jobs; those sent spread over all of them.
    assert.ok(seqs[0]! > 2 * jobs && seqs.at(-1)! <= 4 * jobs, `seqs ${seqs[0]}…${seqs.at(-1)}`);
    assert.ok(seqs.at(-1)! - seqs[0]! > 1.9 * jobs, 'seq went on through the events left out');
  });

  it('sends everything again once the flood is over', () => {
    const { feed, sent } = feedWithSink();
    runSecond(feed, 'flood1', 10 * FEED_FULL_RATE);
    runSecond(feed, 'flood2', 10 * FEED_FULL_RATE);
    runSecond(feed, 'calm1', 100); // measured at the flood's rate: still sampled
    sent.length = 0;
    runSecond(feed, 'calm2', 100);
    assert.equal(sent.length, 200);
  });
});
