/**
 * Waiting for a consumer to settle a known number of jobs, with progress on the way: a
 * cli-progress bar on a terminal, a plain line a second otherwise (pipes and CI logs, where a
 * redrawn bar would be noise).
 */
import cliProgress from 'cli-progress';
import type { Consumer } from '../../src/index.js';

export interface WaitOptions {
  /** True when the queue holds nothing more (ready, in flight or delayed). */
  queueEmpty: () => Promise<boolean>;
  /** Aborted on Ctrl-C: stop waiting, so that main can give the rest back. */
  signal: AbortSignal;
}

/**
 * Resolves once `total` jobs are completed or failed for good, or the queue stayed empty for
 * two checks a second apart (someone else took some of the jobs), or `signal` aborts.
 */
export function untilSettled(
  consumer: Consumer,
  total: number,
  { queueEmpty, signal }: WaitOptions,
): Promise<void> {
  const started = performance.now();
  const bar = process.stdout.isTTY
    ? new cliProgress.SingleBar(
        {
          format:
            '{bar} {percentage}% | {value}/{total} jobs | retried {retried} · failed {failed} | {rate} jobs/s',
          stream: process.stdout,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(total, 0, { retried: 0, failed: 0, rate: 0 });
  let lastReport = started;
  let emptyChecks = 0;
  let finished = false;

  return new Promise((resolve) => {
    // A poll rather than the 'settled' event: counts move once the queue has the outcome.
    const timer = setInterval(tick, 100);
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      signal.removeEventListener('abort', finish);
      tick(false);
      bar?.stop();
      resolve();
    };
    signal.addEventListener('abort', finish);

    function tick(check = true): void {
      const { completed, failed, retried } = consumer.counts;
      const settled = completed + failed;
      const now = performance.now();
      const rate = Math.round(settled / Math.max((now - started) / 1000, 0.001));
      bar?.update(settled, { retried, failed, rate });
      if (!check) return;
      if (settled >= total) {
        finish();
        return;
      }
      if (now - lastReport < 1_000) return;
      lastReport = now;
      if (!bar)
        console.log(`${settled}/${total} jobs · retried ${retried} · failed ${failed} · ${rate} jobs/s`);
      // The count is the plan; an empty queue is the safety net, so that the demo never waits forever.
      queueEmpty().then(
        (empty) => {
          emptyChecks = empty && consumer.counts.inFlight === 0 ? emptyChecks + 1 : 0;
          if (emptyChecks >= 2) finish();
        },
        () => {},
      );
    }
  });
}
