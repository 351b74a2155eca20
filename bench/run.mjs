// Runs the core-runtime benchmark and prints a markdown report (see docs/BENCHMARKS.md).
//
//   node run.mjs                     every part (npm run bench)
//   node run.mjs throughput rss      only these parts: throughput, rss, rss-work, startup, speedup
//
// Every measurement runs in its own child process (child.mjs), and the runs of one part are
// interleaved across libraries (round-robin), so that a slow moment of the machine does not
// land on one library only. Before each run it waits for the CPU to be quiet, and a run during
// which other processes used the CPU is repeated (this machine may be shared). Environment:
// BENCH_ROUNDS (3), BENCH_STARTUP_RUNS (5), BENCH_STARTUP_LIBRARIES (all; e.g. "piscina" for
// multitask against piscina only), BENCH_QUIET_MAX_WAIT_MS (60000), and for child.mjs
// BENCH_TASKS, BENCH_WARMUP, BENCH_FIB_N, BENCH_FIB_TASKS.
// Progress goes to stderr; raw results to results/<timestamp>.json.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { LIBRARIES, PEERS } from './adapters.mjs';
import { fmt, machineCpu, median, progress, quiet, range, ratio, requestedParts } from './harness.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STARTUP_RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 5);
const RSS_RUNS = 3;
const RSS_WORK_RUNS = Number(process.env.BENCH_RSS_WORK_RUNS ?? 5);
const CHILD_TIMEOUT_MS = 120_000;
const MAX_ATTEMPTS = 3;
/** A run is disturbed when other processes used more CPU than this share of its wall time... */
const FOREIGN_SHARE = 0.05;
/** ...and more than this (ms): /proc/stat counts in 10 ms ticks. */
const FOREIGN_MIN_MS = 60;
/** Before each run, wait until the machine is this idle over a sample (share of one core)... */
const QUIET_SHARE = 0.1;
const QUIET_SAMPLE_MS = 300;
/** ...but no longer than this. */
const QUIET_MAX_WAIT_MS = Number(process.env.BENCH_QUIET_MAX_WAIT_MS ?? 60_000);
const QUIET = { share: QUIET_SHARE, sampleMs: QUIET_SAMPLE_MS, maxWaitMs: QUIET_MAX_WAIT_MS };
const ALL_PARTS = ['throughput', 'rss', 'rss-work', 'startup', 'speedup'];
/** The libraries the start-up part compares (multitask and piscina always: the target is theirs). */
const STARTUP_LIBRARIES = process.env.BENCH_STARTUP_LIBRARIES
  ? LIBRARIES.filter((lib) =>
      ['multitask', 'piscina', ...process.env.BENCH_STARTUP_LIBRARIES.split(',')].includes(lib),
    )
  : LIBRARIES;

const here = new URL('.', import.meta.url);
const parts = requestedParts(ALL_PARTS);
const raw = [];

const stats = { contended: 0, keptContended: 0, failed: 0, closeHung: [] };

/**
 * Runs one measurement in a fresh process. A run that fails is tried again, and so is one during
 * which other processes used the CPU (this machine may be shared), up to MAX_ATTEMPTS in all;
 * the least disturbed run is kept.
 */
async function measure(args, nodeFlags = [], { memory = false } = {}) {
  let kept;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    // A memory figure does not depend on the CPU others use: no long wait, and no repeat.
    await quiet(memory ? { ...QUIET, maxWaitMs: QUIET_SAMPLE_MS } : QUIET);
    const before = machineCpu();
    let result;
    try {
      result = await child([...nodeFlags, 'child.mjs', ...args]);
    } catch (error) {
      stats.failed++;
      console.error(`  ${args.join(' ')}: attempt ${attempt} failed: ${error.message}`);
      continue;
    }
    const after = machineCpu();
    if (before && after) {
      // CPU the whole machine spent meanwhile, less this run's own process: somebody else's.
      const foreignMs =
        Math.max(0, after.busyMs - before.busyMs - result.cpuMs) + (after.stealMs - before.stealMs);
      result.foreignCpuMs = Math.round(foreignMs);
      result.contended = foreignMs > Math.max(FOREIGN_MIN_MS, FOREIGN_SHARE * (after.at - before.at));
    }
    raw.push({ ...result, attempt });
    if (result.closeHung) stats.closeHung.push(args.join(' '));
    if (kept === undefined || (result.foreignCpuMs ?? 0) < (kept.foreignCpuMs ?? 0)) kept = result;
    if (!result.contended || memory) break;
    stats.contended++;
    console.error(
      `  ${args.join(' ')}: other processes used ${result.foreignCpuMs} ms of CPU meanwhile; again`,
    );
  }
  if (kept === undefined) raw.push({ part: args[0], library: args[1], arg: args[2], failed: true });
  else if (kept.contended && !memory) stats.keptContended++;
  return kept;
}

function child(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.stderr.on('data', (chunk) => (err += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((text) => text.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)));
      else {
        const how = timedOut
          ? `no result after ${CHILD_TIMEOUT_MS / 1000} s, killed`
          : `exit ${code ?? signal}`;
        reject(new Error(`${how}${err ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
      }
    });
  });
}

async function throughput() {
  const modes = ['all', 'window'];
  const samples = Object.fromEntries(LIBRARIES.map((lib) => [lib, { all: [], window: [] }]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of modes) {
      // Rotate the starting library each round, so that none always runs first.
      for (let k = 0; k < LIBRARIES.length; k++) {
        const lib = LIBRARIES[(k + round - 1) % LIBRARIES.length];
        progress(`throughput round ${round}/${ROUNDS}: ${lib} ${mode}`);
        const result = await measure(['throughput', lib, mode]);
        samples[lib][mode].push(result?.tasksPerSec);
      }
    }
  }
  const med = Object.fromEntries(
    LIBRARIES.map((lib) => [lib, { all: median(samples[lib].all), window: median(samples[lib].window) }]),
  );
  const best = (mode) => Math.max(...PEERS.map((lib) => med[lib][mode] ?? 0));
  const lines = [
    `### 1. Throughput: ${fmt(Number(process.env.BENCH_TASKS ?? 100_000))} tasks x -> x + 1, 2 workers (median of ${ROUNDS} runs)`,
    '',
    '| library | all at once (tasks/s) | vs fastest peer | runs (min–max) | window of 256 (tasks/s) | vs fastest peer | runs (min–max) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const lib of LIBRARIES) {
    lines.push(
      `| ${lib} | ${fmt(med[lib].all)} | ${ratio(med[lib].all, best('all'))} | ${range(samples[lib].all)} | ${fmt(med[lib].window)} | ${ratio(med[lib].window, best('window'))} | ${range(samples[lib].window)} |`,
    );
  }
  const mt = (mode) => med.multitask[mode] / best(mode);
  lines.push(
    '',
    `Target: multitask ≥ 2× the fastest peer. All at once: ${mt('all').toFixed(2)}× (${mt('all') >= 2 ? 'met' : 'NOT met'}); window: ${mt('window').toFixed(2)}× (${mt('window') >= 2 ? 'met' : 'NOT met'}).`,
  );
  return lines;
}

/**
 * Runs one fresh-process measurement per kind, `runs` times, rotating which kind goes first in
 * each round so that no kind always runs on a warmer or cooler machine. Returns the samples and
 * their medians, by kind.
 */
async function interleaved(part, kinds, runs, pick) {
  const samples = Object.fromEntries(kinds.map((kind) => [kind, []]));
  for (let run = 1; run <= runs; run++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(k + run - 1) % kinds.length];
      progress(`${part} run ${run}/${runs}: ${kind}`);
      samples[kind].push(pick(await measure([part, kind])));
    }
  }
  const med = Object.fromEntries(kinds.map((kind) => [kind, median(samples[kind])]));
  return { samples, med };
}

async function startup() {
  const { samples, med } = await interleaved(
    'startup',
    STARTUP_LIBRARIES,
    STARTUP_RUNS,
    (result) => result?.ms,
  );
  const peers = PEERS.filter((lib) => STARTUP_LIBRARIES.includes(lib));
  const best = Math.min(...peers.map((lib) => med[lib] ?? Number.POSITIVE_INFINITY));
  const lines = [
    `### 3. Time from creating a 2-worker pool to the first result (median of ${STARTUP_RUNS} fresh processes)`,
    '',
    '| library | ms | vs fastest peer | runs (min–max) |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const lib of STARTUP_LIBRARIES) {
    lines.push(`| ${lib} | ${fmt(med[lib], 1)} | ${ratio(med[lib], best)} | ${range(samples[lib], 1)} |`);
  }
  // The target compares the medians of one run, interleaved, since the machine's speed drifts.
  const vsPiscina = med.multitask / med.piscina;
  lines.push(
    '',
    `Target: multitask ≤ 1.0× piscina, same run. Measured: ${fmt(med.multitask, 1)} vs ${fmt(med.piscina, 1)} ms, ${vsPiscina.toFixed(2)}× (${vsPiscina <= 1 ? 'met' : 'NOT met'}).`,
  );
  return lines;
}

async function rss() {
  const { samples, med } = await interleaved(
    'rss',
    ['multitask', 'bare'],
    RSS_RUNS,
    (result) => result?.perWorkerMiB,
  );
  const over = med.multitask / med.bare - 1;
  const row = (label, kind) =>
    `| ${label} | ${fmt(med[kind], 2)} | ${ratio(med[kind], med.bare)} | ${range(samples[kind], 2)} |`;
  return [
    `### 2. RSS per idle worker: 8 workers started in a fresh process (median of ${RSS_RUNS} processes)`,
    '',
    '| workers | MiB per worker | vs bare Worker | runs (min–max) |',
    '| --- | ---: | ---: | ---: |',
    row('multitask (Pool size 8, all idle)', 'multitask'),
    row('bare `new Worker` (idle .mjs, 8 online)', 'bare'),
    '',
    `Target: within 10% of a bare Worker. Measured: ${over >= 0 ? '+' : ''}${(over * 100).toFixed(1)}% (${Math.abs(over) <= 0.1 ? 'met' : 'NOT met'}).`,
  ];
}

/**
 * What rss-work compares, each a fresh process per sample (child.mjs rss-work <kind>), and with
 * which Node flags. The flagged and tsx rows show what users who start node that way get: a
 * per-process flag (here --max-old-space-size) or tsx in the parent is inherited by the threads.
 */
const RSS_WORK_KINDS = [
  { key: 'multitask', kind: 'multitask', label: 'multitask (Pool of 8, app with `setup`)' },
  { key: 'bare', kind: 'bare', label: 'bare `new Worker` answering messages' },
  { key: 'piscina', kind: 'piscina', label: 'piscina (8 threads)' },
  {
    key: 'multitask-flag',
    kind: 'multitask',
    flags: ['--max-old-space-size=4096'],
    label: 'multitask, parent run with `--max-old-space-size=4096`',
  },
  {
    key: 'multitask-tsx',
    kind: 'multitask',
    flags: ['--import', 'tsx'],
    label: 'multitask, parent under `--import tsx` (JS app)',
    base: 'bare-tsx',
  },
  {
    key: 'bare-tsx',
    kind: 'bare',
    flags: ['--import', 'tsx'],
    label: 'bare `new Worker`, parent under `--import tsx`',
    base: 'bare-tsx',
  },
];

async function rssWork() {
  const keys = RSS_WORK_KINDS.map((row) => row.key);
  const samples = Object.fromEntries(keys.map((key) => [key, []]));
  const tasks = Object.fromEntries(keys.map((key) => [key, []]));
  for (let run = 1; run <= RSS_WORK_RUNS; run++) {
    for (let k = 0; k < RSS_WORK_KINDS.length; k++) {
      const row = RSS_WORK_KINDS[(k + run - 1) % RSS_WORK_KINDS.length];
      progress(`rss-work run ${run}/${RSS_WORK_RUNS}: ${row.key}`);
      const result = await measure(['rss-work', row.kind], row.flags, { memory: true });
      samples[row.key].push(result?.perWorkerMiB);
      if (result?.tasksPerWorker) tasks[row.key].push(result.tasksPerWorker.join('/'));
    }
  }
  const med = Object.fromEntries(keys.map((key) => [key, median(samples[key])]));
  const lines = [
    `### RSS per worker after work: 8 workers, 160 tiny tasks (20 rounds of one per worker), median of ${RSS_WORK_RUNS} processes`,
    '',
    '| workers | MiB per worker | vs bare Worker (under tsx: the bare one under tsx) | runs (min–max) |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const row of RSS_WORK_KINDS) {
    const base = med[row.base ?? 'bare'];
    lines.push(
      `| ${row.label} | ${fmt(med[row.key], 2)} | ${ratio(med[row.key], base)} | ${range(samples[row.key], 2)} |`,
    );
  }
  const uneven = keys.filter((key) => tasks[key].some((split) => split !== '20/20/20/20/20/20/20/20'));
  const over = med.multitask / med.bare;
  lines.push(
    '',
    `Target: multitask ≤ 1.15× a bare Worker answering messages. Measured: ${fmt(med.multitask, 2)} vs ${fmt(med.bare, 2)} MiB, ${over.toFixed(2)}× (${over <= 1.15 ? 'met' : 'NOT met'}); piscina ${ratio(med.piscina, med.bare)}.`,
  );
  if (uneven.length)
    lines.push(
      '',
      `Tasks were not 20 per worker in: ${uneven.join(', ')} (${uneven.map((key) => tasks[key].join(' ')).join('; ')}).`,
    );
  return lines;
}

async function speedup() {
  const configs = [
    ['multitask', 1],
    ['multitask', 2],
    ['piscina', 1],
    ['piscina', 2],
  ];
  const samples = new Map(configs.map((config) => [config.join(':'), []]));
  const perTask = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [lib, size] of configs) {
      progress(`speedup round ${round}/${ROUNDS}: ${lib} ${size} worker(s)`);
      const result = await measure(['speedup', lib, String(size)]);
      samples.get(`${lib}:${size}`).push(result?.ms);
      if (size === 1 && result) perTask.push(result.perTaskMs);
    }
  }
  const lines = [
    `### 4. CPU speedup: ${process.env.BENCH_FIB_TASKS ?? 200} × fib(${process.env.BENCH_FIB_N ?? 32}), 1 worker vs 2 workers (median of ${ROUNDS} runs; one task ≈ ${fmt(median(perTask), 1)} ms)`,
    '',
    '| library | 1 worker (ms) | 2 workers (ms) | speedup |',
    '| --- | ---: | ---: | ---: |',
  ];
  let mtSpeedup;
  for (const lib of ['multitask', 'piscina']) {
    const one = median(samples.get(`${lib}:1`));
    const two = median(samples.get(`${lib}:2`));
    if (lib === 'multitask') mtSpeedup = one / two;
    lines.push(`| ${lib} | ${fmt(one)} | ${fmt(two)} | ${one && two ? (one / two).toFixed(2) : 'n/a'} |`);
  }
  lines.push(
    '',
    `Target: speedup ≥ 1.85. multitask: ${mtSpeedup?.toFixed(2)} (${mtSpeedup >= 1.85 ? 'met' : 'NOT met'}).`,
  );
  return lines;
}

/** A digest of the JavaScript in dist/: tells whether it was rebuilt with other code during the run. */
function distDigest() {
  const dist = new URL('../dist/', here);
  const hash = createHash('sha256');
  const files = readdirSync(dist, { recursive: true }).filter((name) => name.endsWith('.js'));
  for (const file of files.sort()) hash.update(file).update(readFileSync(new URL(file, dist)));
  return hash.digest('hex').slice(0, 12);
}

function machine() {
  const version = (name) =>
    JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, here))).version;
  const root = new URL('..', here);
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trimEnd();
    } catch {
      return undefined;
    }
  };
  const commit = git('rev-parse', '--short', 'HEAD') ?? 'unknown';
  // dist/ is what runs: say when it was built, and whether src/ changed since (then rebuild).
  const built = statSync(new URL('../dist/index.js', here)).mtime;
  const changed = (git('status', '--porcelain', '--', 'src') ?? '')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3).split(' -> ').pop())
    .filter((path) => {
      try {
        return statSync(new URL(path, root)).mtime > built;
      } catch {
        return true;
      }
    });
  const mt = JSON.parse(readFileSync(new URL('../package.json', here))).version;
  const provenance =
    changed.length > 0
      ? `WARNING: src/ has uncommitted changes newer than dist/ (${changed.join(', ')}), so dist/ may not match HEAD ${commit}`
      : `HEAD ${commit}${git('status', '--porcelain', '--', 'src') ? ', src/ with uncommitted changes' : ''}`;
  return [
    `Node ${process.version} on ${process.platform}/${process.arch}, ${cpus()[0]?.model ?? 'unknown CPU'}, availableParallelism ${availableParallelism()}, ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM`,
    `multitask ${mt}: dist/ built ${built.toISOString()} (JS digest ${digestAtStart}); ${provenance}`,
    `peers: ${PEERS.map((name) => `${name} ${version(name)}`).join(', ')}`,
  ];
}

const sections = { throughput, rss, 'rss-work': rssWork, startup, speedup };
const started = Date.now();
const digestAtStart = distDigest();
const loadAtStart = loadavg()
  .map((value) => value.toFixed(2))
  .join(' ');
const output = ['## multitask core-runtime benchmark', '', ...machine().map((line) => `${line}  `), ''];
for (const part of ALL_PARTS.filter((name) => parts.includes(name))) {
  output.push(...(await sections[part]()), '');
}
const load = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
output.push(
  `Runs repeated because other processes used the CPU meanwhile: ${stats.contended} (kept anyway after ${MAX_ATTEMPTS} tries: ${stats.keptContended}); failed runs: ${stats.failed}; runs whose pool did not close within 10 s after measuring (kept): ${stats.closeHung.length}${stats.closeHung.length ? ` (${stats.closeHung.join(', ')})` : ''}.`,
  '',
);
// Another process (a test run's `npm run build`) may rebuild dist/ meanwhile: say so if the code changed.
const digestAtEnd = distDigest();
if (digestAtEnd !== digestAtStart)
  output.push(
    `WARNING: dist/ was rebuilt with different code during the run (JS digest ${digestAtStart} at start, ${digestAtEnd} at end): the results mix two builds.`,
    '',
  );
output.push(
  `Total bench time: ${((Date.now() - started) / 1000).toFixed(0)} s; load average at start ${loadAtStart}, at end ${load()}.`,
);
console.log(output.join('\n'));

mkdirSync(new URL('./results/', here), { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
writeFileSync(
  new URL(`./results/${stamp}.json`, here),
  `${JSON.stringify({ parts, distDigest: { start: digestAtStart, end: digestAtEnd }, raw, report: output }, null, 2)}\n`,
);
