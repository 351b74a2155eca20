/**
 * `multitask events` (alias `tail`): the job event feed of every instance, live, until SIGINT or
 * SIGTERM. JSON lines, or a readable line per event when stdout is a terminal (`--json` forces
 * JSON there too). Listening is what turns the instances' publishing on (docs/queues.md, "The
 * event feed"); it stops again a few seconds after this command ends.
 */

import type { Logger } from 'pino';
import { flag, optionalQueue, type RawSettings } from '../config.js';
import { assertQueueFile, readQueueTarget, withQueue } from '../one-shot.js';
import { eventLine } from './fleet-lines.js';
import { print } from './inspect.js';

/** Prints the feed until a signal; resolves with the exit code. */
export function events(raw: RawSettings, log: Logger): Promise<number> {
  const target = readQueueTarget(raw);
  const queue = optionalQueue(raw);
  const json = flag(raw, 'json') || process.stdout.isTTY !== true;
  assertQueueFile(target);
  return withQueue(target, { command: 'events', log }, async (opened) => {
    const feed = opened.events(queue === undefined ? {} : { queue });
    // The first signal ends the iteration (and the queue closes); a second one is the default: exit.
    const stop = () => void feed.return?.();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // A reader that went away (`| head`): nothing more to print.
    process.stdout.once('error', stop);
    log.info(
      { queue: queue ?? '(every queue)', url: opened.url },
      'listening to the job events until SIGINT or SIGTERM',
    );
    try {
      for await (const event of feed) print(json ? JSON.stringify(event) : eventLine(event));
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.off('error', stop);
    }
  });
}
