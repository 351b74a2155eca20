// The dashboard as a person uses it, in a real browser (Debian's Chromium through
// playwright-core), on real queues: `multitask work` processes run the jobs, `multitask
// dashboard` serves the page, and the tests read what the page shows. On SQLite always, on
// RabbitMQ when a broker is there (always under CI). Screenshots for the README are written to
// docs/images/ when MULTITASK_SCREENSHOTS=1.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  CSRF_HEADER,
  DASHBOARD_PATHS,
  SNAPSHOT_EVERY_MS,
  STALE_AFTER_MS,
} from '../src/http/dashboard/api.js';
import * as contract from '../src/http/dashboard/assets/contract.js';
import { openQueue, type Queue } from '../src/index.js';
import { AGE_OUT_MS } from '../src/queue/fleet-types.js';
import type { CliProcess } from './cli-helpers.js';
import {
  answerDialog,
  browserSkipReason,
  completedByInstances,
  DASHBOARD_APP,
  instanceRow,
  launchBrowser,
  queueCell,
  screenshot,
  seen,
  seenNumber,
  startDashboard,
  startWork,
  traffic,
  transferred,
  until,
} from './dashboard-browser-helpers.js';
import { Greet } from './fixtures/dashboard-tasks.js';
import { FailTimes, Nap, Record } from './fixtures/queue-tasks.js';
import { fleetFixtures, killAll } from './fleet-helpers.js';
import { eventually } from './helpers.js';
import { tempDir, uniqueQueue } from './queue-helpers.js';

// Runs everywhere, Chromium or not: the page's copy of the wire contract is the server's.
test('the page reads the paths, header and timings api.ts declares', () => {
  const { page: _page, assets: _assets, ...apiPaths } = DASHBOARD_PATHS;
  assert.deepEqual(contract.PATHS, apiPaths);
  assert.equal(contract.CSRF_HEADER, CSRF_HEADER);
  assert.equal(contract.SNAPSHOT_EVERY_MS, SNAPSHOT_EVERY_MS);
  assert.equal(contract.STALE_AFTER_MS, STALE_AFTER_MS);
});

const skip = browserSkipReason();
const started = new Set<CliProcess>();
let browser: Browser | undefined;
before(async () => {
  if (skip === undefined) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  killAll(started);
});

/** A fresh browser context (its own cookies), closed after the test; native dialogs recorded. */
async function openPage(contexts: BrowserContext[]): Promise<{ page: Page; dialogs: string[] }> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return { page, dialogs };
}

for (const fixture of await fleetFixtures()) {
  describe(`dashboard in Chromium: ${fixture.name}`, { skip: skip ?? fixture.skip, timeout: 240_000 }, () => {
    const cwd = tempDir();
    const url = fixture.url(cwd);
    const name = uniqueQueue(`dash-${fixture.name}`);
    const runs = join(cwd, 'runs');
    const contexts: BrowserContext[] = [];
    let view: Queue;
    let work: CliProcess;
    let dashboard: { process: CliProcess; base: string };
    // One set of screenshots (MULTITASK_SCREENSHOTS=1): SQLite's, the transport a clone starts with.
    const shoot = fixture.name === 'sqlite' && process.env.MULTITASK_SCREENSHOTS === '1';
    const shot = (page: Page, name: string, fullPage = true) =>
      shoot ? screenshot(page, name, fullPage) : Promise.resolve();

    before(async () => {
      view = await openQueue(url, { app: DASHBOARD_APP });
      work = await startWork(cwd, url, name, started);
      dashboard = await startDashboard(cwd, url, ['--queue', name]);
      started.add(dashboard.process);
    });
    after(async () => {
      for (const context of contexts) await context.close();
      killAll(started);
      await view?.close();
      await fixture.cleanup(name);
      rmSync(cwd, { recursive: true, force: true });
    });

    test('the overview loads under 200 KB, its counts move, an instance comes and goes', async (t) => {
      const { page } = await openPage(contexts);
      const weight = transferred(page);
      await page.goto(dashboard.base);
      await until('the queue is listed', async () => (await queueCell(page, name, 'Queue').count()) === 1);
      await until('the page says it is live', async () => (await seen(page.locator('#live'))) === 'live');
      const { bytes, files } = await weight();
      t.diagnostic(`first page: ${bytes} bytes in ${files} responses`);
      assert.ok(bytes < 200 * 1024, `the first page is under 200 KB transferred: ${bytes} bytes`);
      await until(
        'the work instance is listed',
        async () => (await instanceRow(page, work.child.pid!).count()) === 1,
      );

      // Six jobs of 3 s for 4 slots (2 workers × 2): some run while the others wait.
      const completedBefore = await seenNumber(instanceRow(page, work.child.pid!).locator('td').nth(5));
      for (let i = 0; i < 6; i++) await view.dispatch(new Nap(3_000, runs, `nap${i}`), { queue: name });
      await until(
        'jobs in flight and ready at once',
        async () =>
          (await seenNumber(queueCell(page, name, 'In flight'))) > 0 &&
          (await seenNumber(queueCell(page, name, 'Ready'))) > 0,
      );
      await until(
        'all six done: nothing ready or in flight, six more completed',
        async () =>
          (await seenNumber(queueCell(page, name, 'In flight'))) === 0 &&
          (await seenNumber(queueCell(page, name, 'Ready'))) === 0 &&
          (await seenNumber(instanceRow(page, work.child.pid!).locator('td').nth(5))) >= completedBefore + 6,
        30_000,
      );

      const second = await startWork(cwd, url, name, started);
      const secondRow = instanceRow(page, second.child.pid!);
      await until('the second instance appears', async () => (await secondRow.count()) === 1);
      await until(
        'its workers alive/target: 2/2',
        async () => (await seen(secondRow.locator('td').nth(2))) === '2/2',
      );
      second.child.kill('SIGKILL');
      await until(
        'the killed instance ages out',
        async () => (await secondRow.count()) === 0,
        AGE_OUT_MS + 10_000,
      );
      assert.equal(await instanceRow(page, work.child.pid!).count(), 1, 'the first one is still listed');

      if (shoot) {
        await traffic(view, name, runs, 45_000);
        await shot(page, 'overview');
        await page.emulateMedia({ colorScheme: 'dark' });
        await page.setViewportSize({ width: 1280, height: 1500 });
        await page.goto(`${dashboard.base}/#/queue/${encodeURIComponent(name)}`);
        await page.waitForTimeout(3_000);
        await shot(page, 'queue-dark', false);
        await page.emulateMedia({ colorScheme: 'light' });
        await page.setViewportSize({ width: 1280, height: 900 });
      }
    });

    test('a failed job: found by id, its markup shown as text, retried from the page, then completed', async () => {
      const flag = join(cwd, 'flag');
      writeFileSync(flag, '');
      const markup = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
      const id = `markup-${randomUUID().slice(0, 8)}`;
      // Its result is kept where the dashboard can read it: SQLite's results table.
      const result = fixture.name === 'sqlite';
      await view.dispatch(new Greet(markup, flag), { queue: name, id, attempts: 1, result });
      await eventually(async () => (await view.failedJob(name, id)) !== undefined, 30_000);

      const { page, dialogs } = await openPage(contexts);
      await page.goto(`${dashboard.base}/#/queue/${encodeURIComponent(name)}`);
      const failedRow = page.locator(`#failed tbody tr[data-id="${id}"]`);
      await until('the failed job is in the failed table', async () => (await failedRow.count()) === 1);
      assert.equal(await seen(failedRow.locator('td').nth(3)), 'E_FLAGGED');
      assert.equal(
        await seen(failedRow.locator('.error-text')),
        `cannot greet ${markup} while the flag is up`,
      );
      await until(
        'the instance is listed',
        async () => (await instanceRow(page, work.child.pid!).count()) === 1,
      );
      const completedBefore = await completedByInstances(page);
      if (shoot) {
        await page.setViewportSize({ width: 1280, height: 1500 });
        await shot(page, 'queue', false);
        await page.setViewportSize({ width: 1280, height: 900 });
      }

      // The header's search box takes a job id to its page.
      await page.locator('#search-input').fill(id);
      await page.locator('#search-input').press('Enter');
      await until(
        'the job page shows it failed',
        async () => (await seen(page.locator('#job-summary .badge'))) === 'failed',
      );
      assert.equal(await seen(page.locator('h1 .name')), id);
      // Shown as the characters they are: in the fields (as JSON), the message and the stack.
      assert.deepEqual(JSON.parse(await seen(page.locator('#job-fields'))), { name: markup, flag });
      assert.ok((await seen(page.locator('#job-stack'))).includes(`Error: cannot greet ${markup}`));
      assert.ok((await seen(page.locator('#job-summary'))).includes('Greet'));
      assert.equal(await page.locator('main img, main script').count(), 0, 'no element made of the markup');
      assert.equal(await page.evaluate('window.__pwned'), undefined, 'nothing ran');
      assert.deepEqual(dialogs, [], 'no alert or other native dialog');
      await shot(page, 'job');
      if (shoot) {
        await page.setViewportSize({ width: 390, height: 844 });
        await shot(page, 'job-narrow', false);
        await page.setViewportSize({ width: 1280, height: 900 });
      }

      rmSync(flag);
      await page.locator('#job-retry').click();
      await answerDialog(page, /^Retry 1 job\?$/, 'confirm');
      await until('the page says it retried the job', async () =>
        /Retried 1 job/.test(await seen(page.locator('#toast'))),
      );
      await until(
        'the job page shows it completed',
        async () => (await seen(page.locator('#job-summary .badge'))) === 'completed',
        30_000,
        // What the page shows, and where the job is: still queued, or run with no event heard.
        async () => {
          const { ready, inFlight, failed } = await view.stats(name);
          const instance = (await view.instances()).find((one) => one.pid === work.child.pid);
          const counts = JSON.stringify({ ready, inFlight, failed, instance: instance?.byQueue[name] });
          return `${await seen(page.locator('#job-summary'))} | ${await seen(page.locator('main'))} | ${counts}`;
        },
      );
      assert.equal(await page.locator('#job-retry').count(), 0, 'no retry for a job not in the failed store');
      if (result) {
        await until('its result', async () => (await page.locator('#job-result').count()) === 1);
        assert.deepEqual(JSON.parse(await seen(page.locator('#job-result'))), {
          greeting: `hello ${markup}`,
        });
      }

      await page.goBack();
      await until('gone from the failed table', async () => (await failedRow.count()) === 0);
      await until(
        'the completed count moved',
        async () => (await completedByInstances(page)) > completedBefore,
      );
      assert.equal(await page.evaluate('window.__pwned'), undefined, 'nothing ran');
      assert.deepEqual(dialogs, []);
    });

    test('failed jobs searched by error code and id, purged after confirmation', async () => {
      const run = `purge-${randomUUID().slice(0, 6)}`;
      const ids = [`${run}-a`, `${run}-b`];
      const failedBefore = (await view.stats(name)).failed;
      for (const id of ids) await view.dispatch(new FailTimes(9, runs, id), { queue: name, id, attempts: 1 });
      await eventually(async () => (await view.stats(name)).failed === failedBefore + 2, 30_000);

      const { page } = await openPage(contexts);
      await page.goto(`${dashboard.base}/#/queue/${encodeURIComponent(name)}`);
      const rows = page.locator('#failed tbody tr[data-id]');
      const listed = async () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id')));
      // By error code (any case): these two, and any other job that failed the same way.
      await page.locator('#failed-search').fill('e_planned');
      await until('the jobs with that error code', async () => {
        const shown = await listed();
        return ids.every((id) => shown.includes(id));
      });
      await page.locator('#failed-search').fill(ids[0]!);
      await until('one job by its id', async () => (await listed()).join() === ids[0]);
      await page.locator('#failed-search').fill(run);
      await until(
        'both by the start of their ids',
        async () => (await listed()).sort().join() === ids.join(),
      );

      // Cancelled (Escape): nothing happens.
      await page.locator(`#failed tr[data-id="${ids[0]}"] button`, { hasText: 'Purge' }).click();
      await answerDialog(page, /^Purge 1 job\?$/, 'escape');
      assert.equal(await rows.count(), 2);
      assert.equal((await view.stats(name)).failed, failedBefore + 2);

      for (const id of ids) await page.locator(`#failed tr[data-id="${id}"] input[type=checkbox]`).check();
      await page.getByRole('button', { name: 'Purge 2 selected' }).click();
      await answerDialog(page, /^Purge 2 jobs\?$/, 'confirm');
      await until('the table is empty', async () => (await rows.count()) === 0);
      await until('the page says it purged them', async () =>
        /Purged 2 jobs/.test(await seen(page.locator('#toast'))),
      );
      assert.equal((await view.stats(name)).failed, failedBefore);
      await until(
        'the failed count is down by two',
        async () => (await seenNumber(page.locator('#stat-failed'))) === failedBefore,
      );
    });

    test('the live event stream pauses, counts what arrives, and resumes', async () => {
      const { page } = await openPage(contexts);
      await page.goto(`${dashboard.base}/#/queue/${encodeURIComponent(name)}`);
      const rows = page.locator('#events tbody tr');
      const top = async () => seen(rows.first());
      await view.dispatch(new Record(runs, 'before-pause'), { queue: name });
      await until('events are listed', async () => (await rows.count()) > 0);

      await page.getByRole('button', { name: 'Pause' }).click();
      assert.equal(await page.locator('#pause').getAttribute('aria-pressed'), 'true');
      const newestWhenPaused = await top();
      const tags = Array.from({ length: 5 }, (_, i) => `while-paused-${i}`);
      for (const tag of tags) await view.dispatch(new Record(runs, tag), { queue: name });
      await until('the page counts the events that arrived while paused', async () => {
        const note = /^Paused: (\d+) new events$/.exec(await seen(page.locator('#events-note')));
        return note !== null && Number(note[1]) >= 5;
      });
      assert.equal(await top(), newestWhenPaused, 'nothing moved while paused');

      await page.getByRole('button', { name: 'Resume' }).click();
      await until('the held events are shown', async () => (await top()) !== newestWhenPaused);
      assert.equal(await seen(page.locator('#events-note')), '');
    });

    test('stale when the dashboard server goes away, live again when it is back', async () => {
      const { page } = await openPage(contexts);
      await page.goto(dashboard.base);
      await until('live', async () => (await seen(page.locator('#live'))) === 'live');
      const port = new URL(dashboard.base).port;
      dashboard.process.child.kill('SIGKILL');
      await dashboard.process.exited;
      await until('the page says since when it is stale', async () =>
        /^stale since \d/.test(await seen(page.locator('#live'))),
      );
      dashboard = await startDashboard(cwd, url, ['--queue', name, '--http', `127.0.0.1:${port}`]);
      started.add(dashboard.process);
      await until(
        'live again, by itself',
        async () => (await seen(page.locator('#live'))) === 'live',
        30_000,
      );

      // The restarted server has a new CSRF token: an action from the old page still works.
      const id = `after-restart-${randomUUID().slice(0, 6)}`;
      await view.dispatch(new FailTimes(9, runs, id), { queue: name, id, attempts: 1 });
      await eventually(async () => (await view.failedJob(name, id)) !== undefined, 30_000);
      await page.goto(`${dashboard.base}/#/job/${id}?queue=${encodeURIComponent(name)}`);
      await until('the job page', async () => (await page.locator('#job-purge').count()) === 1);
      await page.locator('#job-purge').click();
      await answerDialog(page, /^Purge 1 job\?$/, 'confirm');
      await until('purged', async () => /Purged 1 job/.test(await seen(page.locator('#toast'))));
      assert.equal(await view.failedJob(name, id), undefined);
    });
  });
}

describe('dashboard bound to a non-loopback address', { skip, timeout: 60_000 }, () => {
  const cwd = tempDir();
  const contexts: BrowserContext[] = [];
  after(async () => {
    for (const context of contexts) await context.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  test('a request without the token is refused; the page loads with ?token=, and says when a new token refuses it', async () => {
    const token = randomUUID();
    const { process: server, base } = await startDashboard(cwd, `sqlite:${join(cwd, 'queue.db')}`, [
      '--http',
      '0.0.0.0:0',
      '--token',
      token,
    ]);
    started.add(server);
    assert.ok(!server.output.includes(token), 'the token is not logged');
    // Asked at the machine's own non-loopback address when it has one, as a remote browser would.
    const host =
      Object.values(networkInterfaces())
        .flat()
        .find((address) => address?.family === 'IPv4' && !address.internal)?.address ?? '127.0.0.1';
    const origin = `http://${host}:${new URL(base).port}`;
    for (const path of ['/', '/api/snapshot', '/assets/app.js']) {
      assert.equal((await fetch(`${origin}${path}`)).status, 401, `${path} without the token`);
    }
    const { page } = await openPage(contexts);
    const refused = await page.goto(`${origin}/`);
    assert.equal(refused?.status(), 401);
    await page.goto(`${origin}/?token=${encodeURIComponent(token)}`);
    await until('the page is live', async () => (await seen(page.locator('#live'))) === 'live');
    assert.ok(!page.url().includes(token), `the token is not left in the address: ${page.url()}`);
    assert.equal(await seen(page.locator('h1')), 'Overview');

    // Restarted with another token, the server refuses the page's cookie: the page says so.
    server.child.kill('SIGKILL');
    await server.exited;
    const restarted = await startDashboard(cwd, `sqlite:${join(cwd, 'queue.db')}`, [
      '--http',
      `0.0.0.0:${new URL(base).port}`,
      '--token',
      randomUUID(),
    ]);
    started.add(restarted.process);
    await until('the page says it is refused', async () =>
      /^refused \(401\)/.test(await seen(page.locator('#live'))),
    );
  });
});
