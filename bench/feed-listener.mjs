// A listener of the event feed in a process of its own, as a dashboard or `multitask events`
// would be: `node feed-listener.mjs <url> <queue>`. Prints `LISTENING` once subscribed, and on
// SIGTERM `FEED {json}` (events read, gaps and events missed), then exits.
import { openQueue } from 'multitask';

const [url, name] = process.argv.slice(2);
const queue = await openQueue(url);
const feed = queue.events({ queue: name });
const seen = { feedEvents: 0, feedGaps: 0, feedMissed: 0 };
process.once('SIGTERM', () => void feed.return());
const reading = (async () => {
  for await (const event of feed) {
    if (event.type !== 'gap') seen.feedEvents++;
    else {
      seen.feedGaps++;
      seen.feedMissed += event.missed;
    }
  }
})();
// The subscription is made on the first read; a moment for it to be made and announced.
setTimeout(() => process.stdout.write('LISTENING\n'), 300);
await reading;
await queue.close();
const { user, system } = process.cpuUsage();
process.stdout.write(
  `FEED ${JSON.stringify({ ...seen, listenerCpuMs: Math.round((user + system) / 1000) })}\n`,
);
process.exit(0);
