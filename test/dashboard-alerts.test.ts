// The dashboard's alert rules and the counting they rest on (docs/dashboard.md, "Alerts" and
// "What the numbers mean"), on series and announcements built step by step with explicit
// times: a steady climb of the backlog alerts and a burst does not; failures well above their
// usual rate alert and a steady rate does not; workers below target beat after beat are a crash
// loop; jobs ended are counted from the instances' counts, a new instance's from zero.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlertBook, backlogGrowing, failuresRising, findAlerts } from '../src/http/dashboard/alerts.js';
import { SERIES_STEP_MS } from '../src/http/dashboard/api.js';
import { InstancesView } from '../src/http/dashboard/instances-view.js';
import { QueueSeries } from '../src/http/dashboard/series.js';
import type { InstanceInfo } from '../src/index.js';

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % SERIES_STEP_MS);
const at = (step: number) => T0 + step * SERIES_STEP_MS;

/** A series with one ready count (and failures) per step, from `steps` values. */
function seriesOf(ready: number[], failed: number[] = []): QueueSeries {
  const series = new QueueSeries();
  for (let step = 0; step < Math.max(ready.length, failed.length); step++) {
    series.ready(ready[step] ?? 0, at(step) + 1_000);
    series.ended(0, failed[step] ?? 0, at(step) + 2_000);
  }
  return series;
}

function instance(id: string, overrides: Partial<InstanceInfo> & { seenAt: Date }): InstanceInfo {
  return {
    id,
    host: 'h',
    pid: 1,
    version: '0',
    startedAt: new Date(T0 - 60_000),
    queues: ['q'],
    byQueue: { q: { inFlight: 0, completed: 0, failed: 0, retried: 0 } },
    workers: { alive: 2, target: 2 },
    inFlight: 0,
    totals: { completed: 0, failed: 0, retried: 0 },
    jobsPerSec: 0,
    rss: 1,
    feedListeners: 0,
    ...overrides,
  };
}

describe('dashboard alerts', () => {
  it('backlog growing: a steady climb over two minutes, not a burst nor a short history', () => {
    const climb = Array.from({ length: 26 }, (_, step) => 1_000 + step * 20);
    assert.deepEqual(backlogGrowing(seriesOf(climb), at(25)), { from: 1_020, to: 1_480 });
    const burst = [...Array.from({ length: 24 }, () => 1_000), 5_000, 5_000];
    assert.equal(backlogGrowing(seriesOf(burst), at(25)), undefined, 'one jump is not a climb');
    const small = Array.from({ length: 26 }, (_, step) => 10 + step);
    assert.equal(backlogGrowing(seriesOf(small), at(25)), undefined, 'under 100 jobs of rise');
    assert.equal(backlogGrowing(seriesOf(climb.slice(0, 10)), at(9)), undefined, 'no full window yet');
    const input = (consumed: boolean) => ({
      now: at(25),
      connected: true,
      queues: [{ name: 'q', series: seriesOf(climb), consumed }],
      instances: [],
      droppedLastMinute: 0,
    });
    assert.deepEqual(
      findAlerts(input(true)).map((alert) => alert.kind),
      ['backlog-growing'],
    );
    assert.deepEqual(findAlerts(input(false)), [], 'no consumer: a backlog, not one that consumers lose to');
  });

  it('failures rising: the last minute well above the minutes before', () => {
    const steady = Array.from({ length: 180 }, () => 1); // 12 a minute, all along
    assert.equal(failuresRising(seriesOf([], steady), at(179)), undefined);
    const rising = [...Array.from({ length: 168 }, () => 0), ...Array.from({ length: 12 }, () => 2)];
    assert.deepEqual(failuresRising(seriesOf([], rising), at(180)), { lastMinute: 24, before: 0 });
    const few = [...Array.from({ length: 168 }, () => 0), 1, 1, 1, 1];
    assert.equal(failuresRising(seriesOf([], few), at(180)), undefined, 'under 5 failures');
  });

  it('crash loop: workers below target at three announcements in a row', () => {
    const view = new InstancesView();
    const low = (beat: number, alive: number) =>
      instance('a', { seenAt: new Date(at(0) + beat * 2_000), workers: { alive, target: 2 } });
    view.update([low(0, 1)], at(0));
    view.update([low(1, 1)], at(0) + 2_000);
    assert.equal(view.rows(at(1)).at(0)?.crashLoop, false);
    view.update([low(1, 1)], at(0) + 3_000); // the same announcement read again: not a new beat
    assert.equal(view.rows(at(1)).at(0)?.crashLoop, false);
    view.update([low(2, 0)], at(0) + 4_000);
    const rows = view.rows(at(1));
    assert.equal(rows.at(0)?.crashLoop, true);
    assert.deepEqual(
      findAlerts({ now: at(1), connected: true, queues: [], instances: rows, droppedLastMinute: 0 }).map(
        (alert) => alert.kind,
      ),
      ['crash-loop'],
    );
    view.update([low(3, 2)], at(0) + 6_000);
    assert.equal(view.rows(at(2)).at(0)?.crashLoop, false, 'all alive again');
  });

  it('counts jobs ended from the instances: deltas, a new instance from zero, none from before', () => {
    const view = new InstancesView();
    const counts = (completed: number, failed: number) => ({
      q: { inFlight: 0, completed, failed, retried: 0 },
    });
    const old = (beat: number, completed: number) =>
      instance('old', { seenAt: new Date(at(0) + beat * 2_000), byQueue: counts(completed, 0) });
    // What an instance did before the dashboard's first poll is no part of its series.
    assert.deepEqual([...view.update([old(0, 500)], at(0))], []);
    assert.deepEqual(view.update([old(1, 540)], at(0) + 2_000).get('q'), { completed: 40, failed: 0 });
    assert.deepEqual(view.rates('q'), { completed: 20, failed: 0 });
    const fresh = instance('new', {
      seenAt: new Date(at(0) + 4_000),
      startedAt: new Date(at(0) + 3_000),
      byQueue: counts(7, 1),
    });
    assert.deepEqual(view.update([old(2, 600), fresh], at(0) + 4_000).get('q'), { completed: 67, failed: 1 });
    assert.deepEqual(view.update([fresh], at(0) + 6_000).size, 0, 'the old one left: nothing ended since');
    assert.equal(view.rows(at(1)).length, 1);
  });

  it('keeps since when an alert began while it holds, and forgets it once it stops', () => {
    const book = new AlertBook();
    const down = { kind: 'broker-down' as const, message: 'down' };
    assert.equal(book.update([down], 1_000)[0]?.since, 1_000);
    assert.equal(book.update([down], 5_000)[0]?.since, 1_000);
    assert.deepEqual(book.update([], 6_000), []);
    assert.equal(book.update([down], 9_000)[0]?.since, 9_000);
  });
});
