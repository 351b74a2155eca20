// The page side of the dashboard benchmark (dashboard.mjs), as a browser tab viewing one queue
// would load the server: `node dashboard-client.mjs <base> <queue>`. Holds the stream
// (`api/stream?queue=`) open, and every second asks `api/snapshot` or the queue's page, timing
// each answer. Prints `READY` once the first snapshot came, and on
// SIGTERM `CLIENT {json}`: snapshots and event rows received, the gaps between snapshots, the
// answer times, then exits.
const [base, name] = process.argv.slice(2);
const seen = { snapshots: 0, jobRows: 0, bytes: 0, snapshotGapsMs: [], answerMs: [], maxSnapshotAgeMs: 0 };
const abort = new AbortController();
let lastSnapshotAt;

const stream = await fetch(`${base}api/stream?queue=${encodeURIComponent(name)}`, { signal: abort.signal });
const reading = (async () => {
  const reader = stream.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  let event = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      seen.bytes += value.length;
      pending += value;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ') && event === 'snapshot') {
          const now = Date.now();
          if (lastSnapshotAt !== undefined) seen.snapshotGapsMs.push(now - lastSnapshotAt);
          lastSnapshotAt = now;
          seen.snapshots++;
          if (seen.snapshots === 1) process.stdout.write('READY\n');
          seen.maxSnapshotAgeMs = Math.max(seen.maxSnapshotAgeMs, now - JSON.parse(line.slice(6)).at);
        } else if (line.startsWith('data: ') && event === 'jobs')
          seen.jobRows += JSON.parse(line.slice(6)).length;
      }
    }
  } catch {
    // Aborted at the end.
  }
})();

// Every second one request, a snapshot and the queue's page in turn: answer times are sampled
// often, at little more load than the page itself (it asks its queue's page every 5 s).
let turn = 0;
const asking = setInterval(async () => {
  const path = turn++ % 2 === 0 ? 'api/snapshot' : `api/queues/${encodeURIComponent(name)}`;
  const t0 = performance.now();
  const answer = await fetch(`${base}${path}`);
  await answer.arrayBuffer();
  seen.answerMs.push(performance.now() - t0);
}, 1_000);

process.once('SIGTERM', async () => {
  clearInterval(asking);
  abort.abort();
  await reading;
  const { user, system } = process.cpuUsage();
  process.stdout.write(
    `CLIENT ${JSON.stringify({ ...seen, clientCpuMs: Math.round((user + system) / 1000) })}\n`,
  );
  process.exit(0);
});
