// Builds dist/: a clean tsc build of src/, then the worker thread's code as one ES module.
//
//   node scripts/build.mjs          (npm run build)
//
// Why a bundle: a fresh worker thread loads ES modules level by level, and the thread side was
// about ten of them before the app could even start loading. dist/worker/thread.js is
// src/worker/thread-entry.ts with its imports inlined, except the modules that
// `import 'multitask'` also loads inside a worker (the graph of src/worker-api.ts: errors,
// defineApp, Task). Those stay imports of the compiled files, so that a worker holds one copy of
// each and `instanceof MultitaskError` holds for errors the thread makes.
//
// No source maps: dist/ is tsc's readable JavaScript, and a map would name src/*.ts files the
// package does not ship (and cost a map read per module wherever source maps are enabled, as tsx
// enables them). Stack traces name files of dist/, with their real lines.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = resolve(root, 'src');
const dist = resolve(root, 'dist');
const threadSource = resolve(src, 'worker/thread-entry.ts');
const threadOutput = resolve(dist, 'worker/thread.js');
const workerApi = resolve(src, 'worker-api.ts');

// Stale files (an old entry, old maps) must not linger in dist/ and from there in the package.
rmSync(dist, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

/** The src/ modules that user code reaches through `import 'multitask'` in a worker. */
async function sharedModules() {
  const { metafile } = await build({
    entryPoints: [workerApi],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'silent',
  });
  return new Set(Object.keys(metafile.inputs).map((input) => resolve(root, input)));
}

/** Keeps the shared modules out of the bundle: imports of their compiled files instead. */
function externalShared(shared) {
  return {
    name: 'external-shared',
    setup(builder) {
      builder.onResolve({ filter: /^\.\.?\// }, (args) => {
        const source = resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts');
        if (!shared.has(source)) return undefined;
        const compiled = resolve(dist, relative(src, source)).replace(/\.ts$/, '.js');
        let path = relative(dirname(threadOutput), compiled).split(sep).join('/');
        if (!path.startsWith('.')) path = `./${path}`;
        return { path, external: true };
      });
    },
  };
}

const shared = await sharedModules();
if (shared.has(threadSource)) throw new Error('the thread entry must not be part of the worker API');
await build({
  entryPoints: [threadSource],
  outfile: threadOutput,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Not minified (esbuild's default): stack traces name this file, so it stays readable.
  legalComments: 'none',
  plugins: [externalShared(shared)],
  logLevel: 'warning',
});
