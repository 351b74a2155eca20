// The dashboard's doors: token and basic credentials (401 without, the ?token= cookie flow),
// mounting below a path of a node:http server, `multitask dashboard` refusing a non-loopback
// address without credentials (and serving with them, the secret never printed), `multitask
// work --dashboard` beside /metrics, and a closed dashboard leaving the queue usable and
// nothing behind (its process exits by itself). Docs: docs/dashboard.md.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Snapshot } from '../src/http/dashboard/api.js';
import { openQueue, type Queue } from '../src/index.js';
import { CliProcess, QUEUE_APP_PATH, runCli, startWork, usageError } from './cli-helpers.js';
import { call, SseReader, serveDashboard } from './dashboard-helpers.js';
import { fleetFixtures, killAll } from './fleet-helpers.js';
import { failure } from './helpers.js';
import { QUEUE_APP, tempDir, uniqueQueue } from './queue-helpers.js';

const started = new Set<CliProcess>();
afterEach(() => killAll(started));
const SECRET = 'tok-3f9a1c77e2b54d0d';

describe('dashboard: credentials and mounting', { timeout: 60_000 }, () => {
  let queue: Queue;
  after(async () => queue?.close());

  test('a token: 401 without it, a bearer header, and ?token= once as an HttpOnly cookie', async () => {
    const cwd = tempDir();
    queue = await openQueue(`sqlite:${join(cwd, 'queue.db')}`, { app: QUEUE_APP });
    const served = await serveDashboard(queue, { basePath: '/dashboard/', auth: { token: SECRET } });
    try {
      const { base } = served;
      const refused = await call(`${base}api/snapshot`);
      assert.equal(refused.status, 401);
      assert.equal(refused.json().code, 'ERR_UNAUTHORIZED');
      assert.match(refused.headers.get('www-authenticate')!, /^Bearer/);
      assert.ok(!refused.text.includes(SECRET));
      assert.equal(
        (await call(`${base}api/snapshot`, { headers: { authorization: 'Bearer nope' } })).status,
        401,
      );
      assert.equal((await call(`${base}api/snapshot?token=nope`)).status, 401);
      assert.equal((await call(base, { headers: { cookie: 'multitask_dashboard=forged' } })).status, 401);

      const bearer = await call(`${base}api/snapshot`, { headers: { authorization: `Bearer ${SECRET}` } });
      assert.equal(bearer.status, 200);
      assert.equal(bearer.json<Snapshot>().transport, 'sqlite');

      const opened = await call(`${base}?token=${SECRET}&view=queues`);
      assert.equal(opened.status, 303);
      assert.equal(opened.headers.get('location'), '/dashboard/?view=queues', 'the token leaves the URL');
      const cookie = opened.headers.get('set-cookie')!;
      assert.match(cookie, /^multitask_dashboard=[^;]+; Path=\/dashboard\/; HttpOnly; SameSite=Strict/);
      assert.ok(!cookie.includes(SECRET), 'the cookie holds a value derived from the token');
      const session = cookie.split(';')[0]!;
      const page = await call(base, { headers: { cookie: session } });
      assert.equal(page.status, 200);
      assert.match(page.text, /<base href="\/dashboard\/">/);
      assert.match(page.headers.get('content-security-policy')!, /script-src 'self'/);
      assert.equal(page.headers.get('x-frame-options'), 'DENY');
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
      const stream = await new SseReader().open(`${base}api/stream`, { cookie: session });
      try {
        assert.equal(stream.status, 200);
        await stream.next<Snapshot>('snapshot');
      } finally {
        await stream.close();
      }
      // The mount: outside it, the server's own routes (here a 418); without its slash, a redirect.
      assert.equal((await call(served.base.replace('/dashboard/', '/elsewhere'))).status, 418);
      const bare = await call(base.replace(/\/$/, ''), { headers: { cookie: session } });
      assert.equal(bare.status, 308);
      assert.equal(bare.headers.get('location'), '/dashboard/');
      const uplot = await call(`${base}assets/uplot.js`, { headers: { cookie: session } });
      assert.equal(uplot.status, 200);
      assert.match(uplot.headers.get('content-type')!, /javascript/);
      assert.equal(
        (await call(`${base}assets/..%2Fhandler.js`, { headers: { cookie: session } })).status,
        404,
      );
    } finally {
      await served.close();
    }
  });

  test('basic credentials: 401 with a Basic challenge, 200 with the user and password', async () => {
    const served = await serveDashboard(queue, { auth: { username: 'ops', password: SECRET } });
    const basic = (user: string, password: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    });
    try {
      const refused = await call(`${served.base}api/snapshot`);
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate')!, /^Basic realm=/);
      assert.equal(
        (await call(`${served.base}api/snapshot`, { headers: basic('ops', 'wrong') })).status,
        401,
      );
      assert.equal(
        (await call(`${served.base}api/snapshot`, { headers: basic('root', SECRET) })).status,
        401,
      );
      assert.equal((await call(`${served.base}api/snapshot`, { headers: basic('ops', SECRET) })).status, 200);
    } finally {
      await served.close();
    }
  });

  test('bad options are refused with ERR_INVALID_OPTION, the secret not quoted', async () => {
    const { createDashboard } = await import('../src/index.js');
    const error = await failure(
      Promise.resolve().then(() => createDashboard(queue, { auth: { token: '' } })),
    );
    assert.equal(error.code, 'ERR_INVALID_OPTION');
    const half = await failure(
      Promise.resolve().then(() => createDashboard(queue, { auth: { username: 'ops', password: '' } })),
    );
    assert.equal(half.code, 'ERR_INVALID_OPTION');
    const mixed = await failure(
      Promise.resolve().then(() =>
        createDashboard(queue, { auth: { token: SECRET, username: 'x' } as never }),
      ),
    );
    assert.ok(!mixed.message.includes(SECRET), mixed.message);
  });
});

describe('multitask dashboard and work --dashboard', { timeout: 120_000 }, () => {
  test('refuses a non-loopback address without credentials (exit 2, ERR_DASHBOARD_INSECURE)', () => {
    const cwd = tempDir();
    const url = `sqlite:${join(cwd, 'queue.db')}`;
    const dashboard = usageError(runCli(['dashboard', '--url', url, '--http', '0.0.0.0:0'], { cwd }));
    assert.match(dashboard, /ERR_DASHBOARD_INSECURE/);
    assert.match(dashboard, /--token \(MULTITASK_DASHBOARD_TOKEN\)/);
    const work = usageError(
      runCli(['work', '--app', QUEUE_APP_PATH, '--url', url, '--dashboard', '--http', '0.0.0.0:0'], { cwd }),
    );
    assert.match(work, /ERR_DASHBOARD_INSECURE/);
    assert.match(usageError(runCli(['dashboard', '--http', 'here'], { cwd })), /--http \(MULTITASK_HTTP\)/);
    assert.match(
      usageError(
        runCli(['dashboard', '--http', '0.0.0.0:0'], { cwd, env: { MULTITASK_DASHBOARD_USER: 'ops' } }),
      ),
      /--password/,
    );
    assert.match(
      usageError(runCli(['work', '--app', QUEUE_APP_PATH, '--dashboard', '--http', 'off'], { cwd })),
      /--dashboard/,
    );
  });

  test('serves on 0.0.0.0 with a token from the environment, never printing it', async () => {
    const cwd = tempDir();
    const url = `sqlite:${join(cwd, 'queue.db')}`;
    const dashboard = new CliProcess(['dashboard', '--url', url, '--http', '0.0.0.0:0'], {
      cwd,
      env: { MULTITASK_DASHBOARD_TOKEN: SECRET },
    });
    started.add(dashboard);
    const line = await dashboard.waitForLine('dashboard');
    assert.equal(line.auth, 'token');
    const base = String(line.address).replace('0.0.0.0', '127.0.0.1');
    await dashboard.waitForLine('dashboard ready');
    assert.equal((await call(`${base}api/snapshot`)).status, 401);
    const snapshot = await call(`${base}api/snapshot`, { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(snapshot.status, 200);
    assert.equal(snapshot.json<Snapshot>().transport, 'sqlite');
    assert.equal(await dashboard.stop('SIGTERM'), 0, dashboard.output);
    assert.ok(!dashboard.output.includes(SECRET), 'the token is never printed');
    const help = runCli(['dashboard', '--help'], { cwd, env: { MULTITASK_DASHBOARD_TOKEN: SECRET } });
    assert.ok(!help.stdout.includes(SECRET), 'nor shown as a default in --help');
  });

  test('work --dashboard serves it under /dashboard/ beside /metrics', async () => {
    const cwd = tempDir();
    const name = uniqueQueue('dash-work');
    const work = startWork(cwd, {
      queue: name,
      extra: ['--url', `sqlite:${join(cwd, 'queue.db')}`, '--dashboard'],
    });
    started.add(work);
    const line = await work.waitForLine('dashboard');
    const base = String(line.address);
    assert.match(base, /\/dashboard\/$/);
    await work.waitForLine('consuming');
    const page = await call(base);
    assert.equal(page.status, 200);
    assert.match(page.text, /<base href="\/dashboard\/">/);
    const snapshot = await call(`${base}api/snapshot`);
    assert.ok(
      snapshot.json<Snapshot>().queues.some((queue) => queue.name === name),
      `${name} in ${snapshot.text}`,
    );
    assert.equal((await call(`${await work.httpBase()}/metrics`)).status, 200);
    assert.equal(await work.stop('SIGTERM'), 0, work.output);
  });
});

const CLOSE_SCRIPT = fileURLToPath(new URL('./fixtures/dashboard-close.ts', import.meta.url));

for (const fixture of await fleetFixtures()) {
  test(`a closed dashboard leaves its queue usable and nothing behind: ${fixture.name}`, {
    skip: fixture.skip,
    timeout: 60_000,
  }, async () => {
    const cwd = tempDir();
    const name = uniqueQueue('dash-close');
    const child = spawn(process.execPath, ['--import', 'tsx', CLOSE_SCRIPT, fixture.url(cwd), name]);
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    await fixture.cleanup(name);
    assert.equal(code, 0, `it ended by itself; output:\n${output}`);
    const seen = JSON.parse(output.trim().split('\n').at(-1)!);
    assert.deepEqual(seen, {
      pageStatus: 200,
      transport: fixture.name,
      streamEnded: true,
      afterClose: 503,
      stats: { ready: 0, inFlight: 0, delayed: 0, failed: 0 },
    });
  });
}
