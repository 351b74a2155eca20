import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runScript } from './helpers.js';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

function runNode(args: string[]) {
  return spawnSync(process.execPath, args, {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
}

describe('apps in TypeScript and JavaScript', () => {
  it('the package is built (npm test builds it first)', () => {
    assert.ok(existsSync(dist), `${dist} exists: run npm run build`);
  });

  it('a plain JavaScript app runs on the compiled package with plain node, no loader', () => {
    const child = runScript(new URL('./fixtures/js/main.mjs', import.meta.url), { loader: false });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'js:1 js:4 js:9');
  });

  it('a TypeScript app (enums, interfaces) runs in workers when the parent runs under tsx', () => {
    const child = runNode([
      '--import',
      'tsx',
      fileURLToPath(new URL('./fixtures/ts-user/main.ts', import.meta.url)),
    ]);
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'ts:4 ts:8');
  });

  it("inside workers, import 'multitask' resolves to the light worker API", () => {
    const child = runScript(new URL('./fixtures/js/probe.mjs', import.meta.url), { loader: false });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'worker-api');
  });

  it('a parent started with V8 and per-process flags (--expose-gc, --max-old-space-size, --title) still gets working workers, with the light worker API', () => {
    // Threads refuse those flags given explicitly; they are process-wide, so they are left out.
    const child = runScript(new URL('./fixtures/js/probe-flags.mjs', import.meta.url), {
      loader: false,
      args: ['--expose-gc', '--max-old-space-size=512', '--title', 'probe', '--no-warnings'],
    });
    assert.equal(child.status, 0, child.stderr);
    const { entry, execArgv } = JSON.parse(child.stdout);
    assert.equal(entry, 'worker-api');
    assert.deepEqual(execArgv, ['--no-warnings', '--conditions=multitask-worker']);
  });

  it('a JavaScript app under tsx: its threads start without tsx, which they would load for nothing', () => {
    const child = runScript(new URL('./fixtures/js/probe-flags.mjs', import.meta.url));
    assert.equal(child.status, 0, child.stderr);
    const { entry, execArgv } = JSON.parse(child.stdout);
    assert.equal(entry, 'worker-api');
    assert.deepEqual(execArgv, ['--conditions=multitask-worker']);
  });

  it('a JavaScript app that imports TypeScript under tsx: the setup error says how to give workers tsx, and that works', () => {
    const main = fileURLToPath(new URL('./fixtures/js/mixed-main.mjs', import.meta.url));
    const without = runNode(['--import', 'tsx', main]);
    assert.equal(without.status, 0, without.stderr);
    assert.equal(without.stdout.trim(), 'ERR_APP_SETUP_FAILED true');
    const given = runNode(['--import', 'tsx', main, 'inherit']);
    assert.equal(given.status, 0, given.stderr);
    assert.equal(given.stdout.trim(), '4');
  });

  it('a TypeScript app under plain node is refused with ERR_APP_INVALID, not a hang', () => {
    const script = `
      import { Pool } from ${JSON.stringify(dist)};
      const pool = new Pool({ app: ${JSON.stringify(fileURLToPath(new URL('./fixtures/ts-user/app.ts', import.meta.url)))}, size: 1 });
      try { await pool.ready; console.log('loaded'); } catch (error) { console.log(error.code); }
      await pool.close();
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'ERR_APP_INVALID');
  });
});
