/**
 * What the dashboard's browser tests need: Debian's Chromium driven by playwright-core (which
 * downloads no browser), a `multitask dashboard` process, and ways to read what a person sees.
 * Without Chromium the tests skip, saying how to get it, unless CI is set: then they fail.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import type { Queue } from '../src/index.js';
import { CliProcess } from './cli-helpers.js';
import { FailTimes, Nap, Record as RecordRun } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';

/** Where Chromium is: /usr/bin/chromium (Debian's), else whatever `chromium` is on the PATH. */
export function chromiumPath(): string | undefined {
  if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Why the browser tests skip, or undefined when Chromium is there. Under CI a missing one is an error. */
export function browserSkipReason(): string | undefined {
  if (chromiumPath() !== undefined) return undefined;
  const reason = 'no Chromium at /usr/bin/chromium nor on the PATH: bash .ci/chromium.sh installs Debian’s';
  if (process.env.CI) throw new Error(`${reason}. CI is set, so the dashboard's browser tests must run.`);
  return reason;
}

/** A headless Chromium (without its sandbox when running as root, which it refuses otherwise). */
export function launchBrowser(): Promise<Browser> {
  const root = process.getuid?.() === 0;
  return chromium.launch({ executablePath: chromiumPath()!, args: root ? ['--no-sandbox'] : [] });
}

/** The app the browser tests' `work` processes run and their queue dispatches with. */
export const DASHBOARD_APP = new URL('./fixtures/dashboard-app.ts', import.meta.url);

/**
 * A `multitask work` process on `queue` (2 workers × concurrency 2, a grace of 300 ms), added to
 * `started` at once (so that clean-up kills it whatever happens), once it consumes.
 */
export async function startWork(
  cwd: string,
  url: string,
  queue: string,
  started: Set<CliProcess>,
): Promise<CliProcess> {
  const work = new CliProcess(
    [
      'work',
      '--app',
      DASHBOARD_APP.pathname,
      '--queue',
      queue,
      '--url',
      url,
      '--workers',
      '2',
      '--concurrency',
      '2',
    ].concat(['--http', '127.0.0.1:0', '--grace-ms', '300']),
    { cwd, env: {} },
  );
  started.add(work);
  await work.waitForLine('consuming');
  return work;
}

/** `multitask dashboard` on `url`, and its base address once it listens. */
export async function startDashboard(
  cwd: string,
  url: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<{ process: CliProcess; base: string }> {
  const hasHttp = extra.includes('--http');
  const dashboard = new CliProcess(
    ['dashboard', '--url', url, ...(hasHttp ? [] : ['--http', '127.0.0.1:0']), ...extra],
    {
      cwd,
      env,
    },
  );
  // Its first line says where it listens (a URL ending in /); until the queue is open it
  // answers 503 to everything, so the tests start once it says it is ready.
  const line = await dashboard.waitForLine('dashboard');
  await dashboard.waitForLine('dashboard ready');
  return { process: dashboard, base: String(line.address).replace(/\/$/, '') };
}

/** The text a person sees in `locator` (trimmed; '' when it is not there). */
export async function seen(locator: Locator): Promise<string> {
  if ((await locator.count()) === 0) return '';
  return ((await locator.first().textContent()) ?? '').trim();
}

/** A number as the page writes it (thousands separators and all). */
export async function seenNumber(locator: Locator): Promise<number> {
  return Number((await seen(locator)).replace(/[^\d.-]/g, ''));
}

/**
 * Waits until `check` of what the page shows holds (generously: a busy machine is slow); when
 * it does not, the error says what the page showed instead, as `shown` tells it.
 */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  withinMs = 20_000,
  shown?: () => Promise<string>,
): Promise<void> {
  try {
    await eventually(check, withinMs);
  } catch {
    const instead = shown === undefined ? '' : `; the page shows: ${await shown().catch(String)}`;
    throw new Error(`still not so after ${withinMs} ms: ${what}${instead}`);
  }
}

/** The row of the instances table for a process, by its pid. */
export function instanceRow(page: Page, pid: number): Locator {
  return page.locator(`#instances tbody tr[data-pid="${pid}"]`);
}

/** The cells of the queues table's row for `queue`, by column header. */
export function queueCell(page: Page, queue: string, column: string): Locator {
  const columns = ['Queue', 'Ready', 'In flight', 'Delayed', 'Failed', 'Completed/s', 'Failed/s'];
  const index = columns.indexOf(column);
  if (index === -1) throw new Error(`no column ${column}`);
  return page
    .locator('#queues tbody tr')
    .filter({ has: page.getByRole('link', { name: queue, exact: true }) })
    .locator('th, td')
    .nth(index);
}

/**
 * Bytes the browser received for everything the page loaded so far (bodies as sent, compressed
 * when they were, and headers), from the requests that finished: the event stream never does,
 * so it is not counted.
 */
export function transferred(page: Page): () => Promise<{ bytes: number; files: number }> {
  const finished: Array<Promise<number>> = [];
  page.on('requestfinished', (request) => {
    finished.push(request.sizes().then((sizes) => sizes.responseBodySize + sizes.responseHeadersSize));
  });
  return async () => {
    const sizes = await Promise.all(finished);
    return { bytes: sizes.reduce((sum, size) => sum + size, 0), files: sizes.length };
  };
}

/** Screenshots go to docs/images/ only when MULTITASK_SCREENSHOTS=1, so test runs leave the tree as it was. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  if (process.env.MULTITASK_SCREENSHOTS !== '1') return;
  const dir = new URL('../docs/images/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: new URL(`dashboard-${name}.png`, dir).pathname, fullPage });
}

/**
 * Answers the page's confirmation dialog, checking what it asks: confirms, or cancels with the
 * keyboard (Escape). It opens with the focus on Cancel, the safe answer.
 */
export async function answerDialog(page: Page, asks: RegExp, answer: 'confirm' | 'escape'): Promise<void> {
  const dialog = page.locator('dialog#confirm');
  await dialog.waitFor({ state: 'visible' });
  assert.match(await seen(dialog.locator('#confirm-title')), asks);
  assert.equal(await page.evaluate('document.activeElement.id'), 'confirm-cancel');
  if (answer === 'confirm') await dialog.locator('#confirm-ok').click();
  else await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
}

/** The jobs the listed instances completed, as their table shows them. */
export async function completedByInstances(page: Page): Promise<number> {
  const cells = await page
    .locator('#instances tbody tr')
    .evaluateAll((rows) =>
      rows.map((row) => (row as unknown as { cells: Array<{ textContent: string }> }).cells[6]!.textContent),
    );
  return cells.reduce((sum, text) => sum + Number(text.replace(/[^\d]/g, '')), 0);
}

/**
 * Steady work for the screenshots' charts: quick jobs, a few that fail once and are retried,
 * and a few that fail for good, for `ms`.
 */
export async function traffic(view: Queue, queue: string, runs: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (let round = 0; Date.now() < end; round++) {
    const batch = Array.from({ length: 20 }, (_, i) =>
      view.dispatch(new RecordRun(runs, `t${round}.${i}`), { queue }),
    );
    if (round % 3 === 0) batch.push(view.dispatch(new FailTimes(1, runs, `flaky${round}`), { queue }));
    if (round % 8 === 0)
      batch.push(view.dispatch(new FailTimes(9, runs, `bad${round}`), { queue, attempts: 2 }));
    if (round % 20 === 0) batch.push(view.dispatch(new Nap(4_000, runs, `slow${round}`), { queue }));
    await Promise.all(batch);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
