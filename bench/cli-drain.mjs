// How fast `multitask work` drains an embedded queue, and what logging every job costs:
// dispatches N Noop jobs with `multitask dispatch`, starts `multitask work`, and times the
// drain by polling its /metrics. Run from bench/: node cli-drain.mjs [jobs]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const APP = fileURLToPath(new URL('./queue-app.mjs', import.meta.url));
const jobs = Number(process.argv[2] ?? 20_000);

async function drain(logLevel) {
  const cwd = mkdtempSync(join(tmpdir(), 'multitask-cli-bench-'));
  const input = `${Array.from({ length: jobs }, () => '{"task":"Noop","fields":{"payload":"x"}}').join('\n')}\n`;
  const sent = spawnSync(process.execPath, [CLI, 'dispatch', '--app', APP, '--queue', 'bench'], {
    cwd,
    input,
    encoding: 'utf8',
  });
  if (sent.status !== 0) throw new Error(sent.stderr);
  const started = performance.now();
  const work = spawn(
    process.execPath,
    [
      CLI,
      'work',
      '--app',
      APP,
      '--queue',
      'bench',
      '--workers',
      '2',
      '--concurrency',
      '16',
      '--http',
      '127.0.0.1:0',
      '--log-level',
      logLevel,
      '--log-format',
      'json',
    ],
    { cwd, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let base;
  let logBytes = 0;
  work.stdout.on('data', (chunk) => {
    logBytes += chunk.length;
    const match = /"address":"([^"]+)"/.exec(chunk.toString());
    if (match && base === undefined) base = `http://${match[1]}`;
  });
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (base === undefined) continue;
    const text = await (await fetch(`${base}/metrics`)).text();
    const done = Number(/multitask_jobs_completed_total\{[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    if (done >= jobs) break;
  }
  const seconds = (performance.now() - started) / 1000;
  work.kill('SIGTERM');
  await new Promise((resolve) => work.once('exit', resolve));
  return {
    logLevel,
    jobsPerSecond: Math.round(jobs / seconds),
    seconds: seconds.toFixed(2),
    logMb: (logBytes / 1e6).toFixed(1),
  };
}

const info = await drain('info');
const debug = await drain('debug');
console.table([info, debug]);
console.log(
  `logging every job (debug) runs at ${(debug.jobsPerSecond / info.jobsPerSecond).toFixed(2)}x the default (info); ${jobs} jobs, start-up included`,
);
