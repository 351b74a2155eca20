// The dashboard side of the dashboard benchmark (dashboard.mjs), in a process of its own as
// `multitask dashboard` would be: `node dashboard-server.mjs <url> <queue>`. Serves
// createDashboard(queue) on a free loopback port and prints `LISTENING <port>`; on SIGTERM
// prints `SERVER {json}` (its CPU time) and exits.
import { createServer } from 'node:http';
import { createDashboard, openQueue } from 'multitask';

const [url, name] = process.argv.slice(2);
const queue = await openQueue(url);
const handler = createDashboard(queue, { queues: [name] });
const server = createServer((request, response) => handler(request, response));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
process.stdout.write(`LISTENING ${server.address().port}\n`);
process.once('SIGTERM', async () => {
  await handler.close();
  server.closeAllConnections();
  server.close();
  await queue.close();
  const { user, system } = process.cpuUsage();
  process.stdout.write(`SERVER ${JSON.stringify({ serverCpuMs: Math.round((user + system) / 1000) })}\n`);
  process.exit(0);
});
