/**
 * The command's configuration: every flag also reads its environment variable, and a wrong
 * value (typed or set by a manifest) is one line naming both, with exit code 2, before anything
 * starts. Bad job input is refused whole: nothing is dispatched.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { wantedWorkers } from '../src/cli/autoscaler.js';
import { lineRanges } from '../src/cli/commands/dispatch.js';
import { httpAddress } from '../src/cli/config.js';
import { ENV_NAMES, SETTINGS } from '../src/cli/settings.js';
import { readWorkersFile } from '../src/cli/workers-file.js';
import { QUEUE_APP_PATH, runCli, usageError } from './cli-helpers.js';
import { tempDir } from './queue-helpers.js';

describe('multitask configuration', () => {
  it('names the flag and the environment variable of a bad value, whichever way it came', () => {
    const cwd = tempDir();
    const fromFlag = usageError(runCli(['work', '--app', QUEUE_APP_PATH, '--workers', 'lots'], { cwd }));
    assert.equal(
      fromFlag,
      'multitask: invalid --workers (MULTITASK_WORKERS): expected a worker count (4, at most 1024) or a share of the CPUs (50%, 0.5), got "lots"',
    );
    const fromEnv = usageError(
      runCli(['work'], { cwd, env: { MULTITASK_APP: QUEUE_APP_PATH, MULTITASK_CONCURRENCY: '0' } }),
    );
    assert.match(
      fromEnv,
      /invalid --concurrency \(MULTITASK_CONCURRENCY\): expected an integer from 1 to 10000, got "0"/,
    );
    assert.match(
      usageError(runCli(['work', '--app', QUEUE_APP_PATH], { cwd, env: { MULTITASK_GRACE_MS: '-5' } })),
      /--grace-ms \(MULTITASK_GRACE_MS\)/,
    );
    assert.match(
      usageError(runCli(['work', '--app', QUEUE_APP_PATH, '--http', 'everywhere'], { cwd })),
      /--http \(MULTITASK_HTTP\)/,
    );
    assert.match(
      usageError(runCli(['work', '--app', QUEUE_APP_PATH, '--workers', '5000'], { cwd })),
      /--workers \(MULTITASK_WORKERS\): expected a worker count \(4, at most 1024\)/,
    );
    assert.match(
      usageError(runCli(['work', '--app', QUEUE_APP_PATH, '--workers-file', join(cwd, 'none')], { cwd })),
      /--workers-file \(MULTITASK_WORKERS_FILE\): cannot read .*ENOENT/,
    );
    assert.match(
      usageError(
        runCli(
          [
            'work',
            '--app',
            QUEUE_APP_PATH,
            '--workers-file',
            'x',
            '--min-workers',
            '1',
            '--max-workers',
            '2',
          ],
          {
            cwd,
          },
        ),
      ),
      /--workers-file \(MULTITASK_WORKERS_FILE\): sizes the pool by hand: not with the autoscaler/,
    );
    // Past what a timer takes, Node would fire at once: refused.
    assert.match(
      usageError(runCli(['work', '--app', QUEUE_APP_PATH, '--grace-ms', '3000000000'], { cwd })),
      /--grace-ms \(MULTITASK_GRACE_MS\): expected an integer from 0 to 2147483647/,
    );
    assert.match(
      usageError(runCli(['work', '--app', QUEUE_APP_PATH, '--log-level', 'loud'], { cwd })),
      /--log-level \(MULTITASK_LOG_LEVEL\)/,
    );
    assert.match(
      usageError(runCli(['work', '--app', QUEUE_APP_PATH, '--min-workers', '2'], { cwd })),
      /needs both --min-workers and --max-workers/,
    );
    assert.match(
      usageError(
        runCli(['work', '--app', QUEUE_APP_PATH, '--min-workers', '4', '--max-workers', '2'], { cwd }),
      ),
      /4 is above --max-workers \(2\)/,
    );
    assert.match(
      usageError(runCli(['work', '--app', QUEUE_APP_PATH, '--queue', 'a b'], { cwd })),
      /--queue \(MULTITASK_QUEUE\)/,
    );
  });

  it('refuses an unknown flag, a missing or broken app, and a bad URL without showing its password', () => {
    const cwd = tempDir();
    assert.equal(
      usageError(runCli(['work', '--wrkers', '2'], { cwd })),
      "multitask: unknown option '--wrkers' (Did you mean --workers?)",
    );
    assert.match(usageError(runCli(['work'], { cwd })), /invalid --app \(MULTITASK_APP\): is required/);
    assert.match(
      usageError(runCli(['work', '--app', join(cwd, 'nope.js')], { cwd })),
      /--app \(MULTITASK_APP\): no such file/,
    );
    const notAnApp = join(cwd, 'not-an-app.mjs');
    writeFileSync(notAnApp, 'export const x = 1;\n');
    assert.match(
      usageError(runCli(['work', '--app', notAnApp], { cwd })),
      /does not export an app made by defineApp/,
    );
    // TypeScript with a syntax error: esbuild's own message, on one line.
    const broken = join(cwd, 'broken.ts');
    writeFileSync(broken, 'const x: number = ;\n');
    assert.match(
      usageError(runCli(['work', '--app', broken], { cwd })),
      /broken\.ts:1:18: ERROR: Unexpected ";"/,
    );
    for (const password of ['hunter2', 'se/cret', 'p@ss']) {
      const badUrl = usageError(runCli(['status', '--url', `mysql://root:${password}@db/x`], { cwd }));
      assert.match(badUrl, /--url \(MULTITASK_URL\)/);
      assert.ok(!badUrl.includes(password), badUrl);
    }
    const badAmqp = usageError(runCli(['status', '--url', 'amqp://root:se/cr et@[db'], { cwd }));
    assert.ok(!badAmqp.includes('se/cr'), badAmqp);
    // A raw @, / or % in a password: a parser would connect to part of it as the host.
    for (const password of ['p@ss/w0rd', 's3cr%t']) {
      const line = usageError(
        runCli(['status', '--url', `amqp://guest:${password}@127.0.0.1:5672`], { cwd }),
      );
      assert.match(line, /--url \(MULTITASK_URL\): expected user and password percent-encoded/);
      assert.ok(!line.includes(password.slice(1, 4)), line);
    }
    assert.match(usageError(runCli(['failed', 'explode'], { cwd })), /unknown action "explode"/);
  });

  it('fails at once, in one line, on a SQLite file that cannot be opened', () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'a-directory.db'));
    const result = runCli(
      ['work', '--app', QUEUE_APP_PATH, '--url', 'sqlite:a-directory.db', '--http', 'off'],
      {
        cwd,
      },
    );
    assert.equal(result.status, 1, result.stderr + result.stdout);
    const fatal = result.stdout.split('\n').find((line) => line.includes('"cannot open the queue"'));
    assert.ok(fatal, result.stdout);
    const { err } = JSON.parse(fatal) as { err: { code: string; message: string } };
    assert.equal(err.code, 'ERR_BROKER_UNAVAILABLE');
    assert.match(err.message, /Cannot open the SQLite queue sqlite:a-directory\.db/);

    assert.doesNotMatch(result.stdout, /retrying/);
  });

  it('says when the HTTP port is taken', async () => {
    const cwd = tempDir();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const line = usageError(
        runCli(['work', '--app', QUEUE_APP_PATH, '--http', `127.0.0.1:${port}`], { cwd }),
      );
      assert.match(
        line,
        new RegExp(`--http \\(MULTITASK_HTTP\\): cannot listen on 127.0.0.1:${port}: EADDRINUSE`),
      );
    } finally {
      blocker.close();
    }
  });

  it('refuses a bad job line by its number and dispatches nothing from that input', () => {
    const cwd = tempDir();
    const lines = [
      JSON.stringify({ task: 'Record', fields: { file: 'x', tag: 'a' } }),
      JSON.stringify({ task: 'Missing', fields: {} }),
    ].join('\n');
    const line = usageError(
      runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'bad'], { cwd, input: lines }),
    );
    assert.match(line, /line 2: Task "Missing" is not registered.*nothing was dispatched/);
    assert.match(
      usageError(
        runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'bad'], { cwd, input: '{"task":"Record"\n' }),
      ),
      /line 1: not JSON/,
    );
    // A field that would hide a member of the task's class is refused while reading, not halfway through.
    const reserved = [
      JSON.stringify({ task: 'Record', fields: { file: 'x', tag: 'a' } }),
      '{"task":"Record","fields":{"run":1}}',
    ].join('\n');
    assert.match(
      usageError(runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'bad'], { cwd, input: reserved })),
      /line 2: field name "run" is reserved: the task's class has a member of that name.*nothing was dispatched/,
    );
    assert.match(
      usageError(
        runCli(
          ['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'bad', '--task', 'Record', '{"__proto__":{}}'],
          { cwd },
        ),
      ),
      /the task fields: field name "__proto__" is reserved/,
    );
    assert.match(
      usageError(
        runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'bad'], {
          cwd,
          input: '{"task":"Record","attempts":0}\n',
        }),
      ),
      /line 1: .*attempts/,
    );
    assert.match(
      usageError(runCli(['dispatch', '--app', QUEUE_APP_PATH, '--task', 'Record', '{not json'], { cwd })),
      /the task fields is not JSON/,
    );
    // Refused before connecting: not even the queue's file was made.
    assert.match(
      usageError(runCli(['status', '--queue', 'bad'], { cwd })),
      /invalid --url \(MULTITASK_URL\): no queue at sqlite:\.multitask\/queue\.db .*run where the workers run/,
    );
  });

  it('reads a switch from its variable as a yes or a no, and refuses anything else', () => {
    const cwd = tempDir();
    const one = runCli(['dispatch', '--app', QUEUE_APP_PATH, '--task', 'Record', '{"file":"","tag":"a"}'], {
      cwd,
    });
    assert.equal(one.status, 0, one.stderr);
    const asJson = runCli(['status'], { cwd, env: { MULTITASK_JSON: 'true' } });
    assert.equal(asJson.status, 0, asJson.stderr);
    assert.equal((JSON.parse(asJson.stdout) as { ready: number }).ready, 1);
    const asText = runCli(['status'], { cwd, env: { MULTITASK_JSON: '0' } });
    assert.match(asText.stdout, /^queue default on sqlite:/);
    assert.match(
      usageError(runCli(['status'], { cwd, env: { MULTITASK_JSON: 'maybe' } })),
      /invalid --json \(MULTITASK_JSON\): expected 1, true, yes, on, or 0, false, no, off, got "maybe"/,
    );
  });

  it('has one environment variable per flag, all named MULTITASK_*', () => {
    assert.equal(new Set(ENV_NAMES).size, Object.keys(SETTINGS).length);
    for (const name of ENV_NAMES) assert.match(name, /^MULTITASK_[A-Z_]+$/);
  });
});

describe('settings readers', () => {
  it('reads --http as host:port, a bare port as loopback, and off as none', () => {
    assert.deepEqual(httpAddress({}), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(httpAddress({ http: '0.0.0.0:9000' }), { host: '0.0.0.0', port: 9000 });
    assert.deepEqual(httpAddress({ http: '9100' }), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(httpAddress({ http: '[::1]:9100' }), { host: '::1', port: 9100 });
    assert.equal(httpAddress({ http: 'off' }), undefined);
    assert.throws(() => httpAddress({ http: '1.2.3.4:99999' }), /MULTITASK_HTTP/);
  });

  it('reads a workers file as a bare value or a MULTITASK_WORKERS= line', async () => {
    const dir = tempDir();
    const file = join(dir, 'workers');
    writeFileSync(file, '6\n');
    assert.equal(await readWorkersFile(file), 6);
    writeFileSync(file, '# scaled by ops\nOTHER=1\nMULTITASK_WORKERS="3"\n');
    assert.equal(await readWorkersFile(file), 3);
    writeFileSync(file, 'many\n');
    await assert.rejects(
      readWorkersFile(file),
      /--workers-file \(MULTITASK_WORKERS_FILE\).*holds no worker count/,
    );
    await assert.rejects(readWorkersFile(join(dir, 'missing')), /cannot read .*ENOENT/);
  });

  it('sizes the pool to the backlog, a worker per `concurrency` jobs, within the bounds', () => {
    const bounds = { min: 1, max: 8, concurrency: 4 };
    assert.equal(wantedWorkers({ ready: 0, inFlight: 0, busyWorkers: 0 }, bounds), 1);
    assert.equal(wantedWorkers({ ready: 9, inFlight: 3, busyWorkers: 1 }, bounds), 3);
    assert.equal(wantedWorkers({ ready: 13, inFlight: 0, busyWorkers: 0 }, bounds), 4);
    assert.equal(wantedWorkers({ ready: 10_000, inFlight: 32, busyWorkers: 8 }, bounds), 8);
    // Three jobs left, one on each of three workers: shrinking now would cut two of them short.
    assert.equal(wantedWorkers({ ready: 0, inFlight: 3, busyWorkers: 3 }, bounds), 3);
  });

  it('names the input lines a failed batch did not get confirmed, as ranges', () => {
    assert.equal(lineRanges([9, 3, 4, 5, 12, 7]), 'lines 3-5, line 7, line 9, line 12');
    assert.equal(lineRanges([1]), 'line 1');
  });
});
