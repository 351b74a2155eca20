// Builds dist/: a clean tsc build of src/, then the worker thread's code as one ES module.
//
//   node scripts/build.mjs          (npm run build)
//
// Why a bundle: a fresh worker thread loads ES modules level by level, and the thread side was
// about ten of them before the app could even start loading, then the app's `import 'multitask'`
// loaded four more. dist/worker/thread.js is src/worker/thread.ts with every import inlined: the
// thread's code and the worker API in one module, which is also what `import 'multitask'`
// resolves to inside a pool's thread (the `multitask-worker` export condition). So a thread loads
// one module of ours, and the errors it makes are the class its app imports.
//
// The dashboard's page (src/http/dashboard/assets/: plain HTML, CSS and JavaScript, no build
// step of its own) is copied as it is next to the built handler, which serves it from there: the
// npm package carries it, and a user runs nothing to get it.
//
// No source maps: dist/ is tsc's readable JavaScript, and a map would name src/*.ts files the
// package does not ship (and cost a map read per module wherever source maps are enabled, as tsx
// enables them). Stack traces name files of dist/, with their real lines.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = resolve(root, 'src');
const dist = resolve(root, 'dist');
const threadSource = resolve(src, 'worker/thread.ts');
const threadOutput = resolve(dist, 'worker/thread.js');
const dashboardAssets = resolve(src, 'http/dashboard/assets');

// Stale files (an old entry, old maps) must not linger in dist/ and from there in the package.
rmSync(dist, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

await build({
  entryPoints: [threadSource],
  outfile: threadOutput,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Not minified (esbuild's default): stack traces name this file, so it stays readable.
  legalComments: 'none',
  logLevel: 'warning',
});

if (existsSync(dashboardAssets))
  cpSync(dashboardAssets, resolve(dist, 'http/dashboard/assets'), { recursive: true });
