// `npm run demo` as a user runs it, in a fresh working directory: it says where its dashboard
// is, the dashboard serves the page and shows the demo queue's jobs completing, and Ctrl-C
// (SIGINT) stops it cleanly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Snapshot } from '../src/http/dashboard/api.js';
import { eventually } from './helpers.js';
import { tempDir } from './queue-helpers.js';

const MAIN = fileURLToPath(new URL('../examples/demo/main.ts', import.meta.url));
// Resolved from the repository: `--import tsx` alone would look for tsx under the temp directory.
const TSX = import.meta.resolve('tsx');

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

test('npm run demo: prints its dashboard address, shows jobs completing there, stops on Ctrl-C', {
  timeout: 90_000,
}, async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', MULTITASK_HTTP: '127.0.0.1:0' };
  delete env.MULTITASK_URL; // the embedded default, whatever the environment of the test says
  const child = spawn(process.execPath, ['--import', TSX, MAIN], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    await eventually(() => /^dashboard: http:\/\/\S+\/ /m.test(output), 30_000);
    const base = /^dashboard: (http:\/\/\S+\/) /m.exec(output)![1]!;

    const page = await fetch(base);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script type="module" src="assets\/app\.js"><\/script>/);

    let snapshot: Snapshot | undefined;
    await eventually(async () => {
      snapshot = (await (await fetch(`${base}api/snapshot`)).json()) as Snapshot;
      const demo = snapshot.queues.find((queue) => queue.name === 'demo');
      return demo !== undefined && snapshot.instances.some((instance) => instance.totals.completed > 50);
    }, 45_000);
    assert.equal(snapshot!.transport, 'sqlite');
    assert.equal(snapshot!.instances[0]!.pid, child.pid, 'the demo process is the instance consuming');
  } finally {
    child.kill('SIGINT');
  }
  const [code] = await exited;
  assert.equal(code, 0, output);
  assert.match(output, /^done: \d+ dispatched, \d+ completed, \d+ failed for good$/m);
});
