/**
 * Waiting for a consumer to finish the queue, with progress on the way: a cli-progress bar on
 * a terminal, a plain line a second otherwise (pipes and CI logs, where a redrawn bar would be
 * noise).
 */
import { once } from 'node:events';
import cliProgress from 'cli-progress';
import type { Consumer, Queue } from '../../src/index.js';

/**
 * Resolves once the consumer is idle and no retry waits on its backoff (`onIdle()` does not
 * count delayed jobs), or when `signal` aborts (Ctrl-C: main then gives the rest back).
 * `total` only scales the bar: jobs another instance takes are not waited for.
 */
export async function untilDone(
  consumer: Consumer,
  queue: Queue,
  total: number,
  signal: AbortSignal,
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
  let lastLine = started;
  // `settled` fires once the counts show the job: they are the progress.
  const show = () => {
    const { completed, failed, retried } = consumer.counts;
    const now = performance.now();
    const rate = Math.round((completed + failed) / Math.max((now - started) / 1000, 0.001));
    bar?.update(completed + failed, { retried, failed, rate });
    if (!bar && now - lastLine >= 1_000) {
      lastLine = now;
      console.log(
        `${completed + failed}/${total} jobs · retried ${retried} · failed ${failed} · ${rate} jobs/s`,
      );
    }
  };
  consumer.on('settled', show);
  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  try {
    for (;;) {
      await Promise.race([consumer.onIdle(), aborted]);
      if (signal.aborted) return;
      // Listening before asking: a retry that settles while stats() is on its way is not missed.
      const done = new AbortController();
      const next = once(consumer, 'settled', { signal: AbortSignal.any([signal, done.signal]) });
      next.catch(() => {});
      const { delayed } = await queue.stats(consumer.queue);
      if (delayed === 0) {
        done.abort();
        return;
      }
      // Retries wait out their backoff: the next job to settle ends this idle spell.
      await next.catch(() => {});
    }
  } finally {
    consumer.off('settled', show);
    show();
    bar?.stop();
  }
}
