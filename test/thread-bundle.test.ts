import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = `${root}dist/`;
const bundle = `${dist}worker/thread.js`;
const main = fileURLToPath(new URL('./fixtures/js/thread-main.mjs', import.meta.url));

/** Runs the fixture with plain node (no loader), as a user of the compiled package does. */
function runMain(mode: 'identity' | 'stack', flags: string[] = []) {
  return spawnSync(process.execPath, [...flags, main, mode], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
}

/** The specifiers of a module's static imports. */
function staticImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/^import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["'];?$/gm)].map(
    (match) => match[1]!,
  );
}

/** The files a stack trace's frames name (file URLs and absolute paths), without line and column. */
function stackFiles(stack: string): string[] {
  return [...stack.matchAll(/\(?((?:file:\/\/)?\/[^():\s]+):\d+:\d+\)?/g)].map((match) =>
    match[1]!.startsWith('file:') ? fileURLToPath(match[1]!) : match[1]!,
  );
}

describe('the compiled thread side', () => {
  it('is one module: it imports only Node built-ins, and is what a thread imports as multitask', () => {
    assert.ok(existsSync(bundle), `${bundle} exists: run npm run build`);
    assert.equal(
      existsSync(`${dist}worker/thread-entry.js`),
      false,
      'the unbundled entry is not shipped too',
    );
    for (const specifier of staticImports(bundle))
      assert.ok(specifier.startsWith('node:'), `thread.js imports ${specifier}`);
    const { exports } = JSON.parse(readFileSync(`${dist}../package.json`, 'utf8'));
    assert.equal(exports['.']['multitask-worker'], './dist/worker/thread.js');
  });

  it("shares the worker API's classes: an abort reason the thread makes is the app's MultitaskError", () => {
    const child = runMain('identity');
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout.trim()), { isMultitaskError: true, code: 'ERR_POOL_CLOSED' });
  });

  it('names only shipped files in task error stacks, even with source maps enabled', () => {
    const child = runMain('stack', ['--enable-source-maps']);
    assert.equal(child.status, 0, child.stderr);
    const { code, stack, causeStack } = JSON.parse(child.stdout.trim());
    assert.equal(code, 'ERR_TASK_FAILED');
    const files = stackFiles(`${stack}\n${causeStack}`);
    assert.ok(
      files.some((file) => file.startsWith(dist)),
      `a frame of dist/ in:\n${stack}`,
    );
    for (const file of files) {
      if (!file.startsWith(root) || file.includes('/test/fixtures/')) continue;
      assert.ok(file.startsWith(dist), `${file} is outside dist/, which is what the package ships`);
      assert.ok(existsSync(file), `${file} exists`);
    }
  });
});
