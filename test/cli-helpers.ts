/**
 * Running the `multitask` binary as a user would: the built `dist/cli/main.js` in a child
 * process, its JSON log lines parsed as they come, its HTTP endpoints asked over loopback.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The binary, as package.json's `bin` names it (built by `npm test`'s pretest). */
export const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
export const QUEUE_APP_PATH = fileURLToPath(new URL('./fixtures/queue-app.ts', import.meta.url));

function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm test does it first)`);
}

/** Environment for a child: the parent's, minus any MULTITASK_* that would leak into the test. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('MULTITASK_')) env[key] = value;
  return { ...env, MULTITASK_LOG_FORMAT: 'json', ...extra };
}

/** A one-shot command, run to its end. */
export function runCli(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; input?: string },
): { status: number | null; stdout: string; stderr: string } {
  assertBuilt();
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The one line a command refused with a usage error (exit code 2) prints: `multitask: …`. */
export function usageError(result: { status: number | null; stderr: string }): string {
  assert.equal(result.status, 2, `exit 2; stderr: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0]!, /^multitask: /);
  return lines[0]!;
}

/** A long-running command (`work`, `run`), with its log lines as objects. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly lines: Array<Record<string, unknown>> = [];
  /** Everything it wrote, for assertion messages and for lines that are not JSON. */
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters = new Set<() => void>();

  constructor(args: string[], options: { cwd: string; env?: Record<string, string> }) {
    assertBuilt();
    this.child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: cliEnv(options.env) });
    let pending = '';
    const take = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.output += text;
      pending += text;
      const complete = pending.split('\n');
      pending = complete.pop()!;
      for (const line of complete) {
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // Not a log line (a crash trace): kept in `output`.
        }
      }
      for (const wake of this.#waiters) wake();
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        for (const wake of this.#waiters) wake();
        resolve({ code, signal });
      });
    });
  }

  /** The first log line with this message (and matching `where`), waiting up to `timeoutMs`. */
  async waitForLine(msg: string | RegExp, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    const find = () =>
      this.lines.find((line) => (typeof msg === 'string' ? line.msg === msg : msg.test(String(line.msg))));
    for (;;) {
      const line = find();
      if (line !== undefined) return line;
      if (this.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`no log line ${msg} (exit ${this.child.exitCode}); output:\n${this.output}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 200);
        this.#waiters.add(wake);
      });
    }
  }

  /** The base URL of its HTTP server, from its startup line (start it with `--http 127.0.0.1:0`). */
  async httpBase(): Promise<string> {
    const line = await this.waitForLine('http: /healthz /readyz /metrics');
    return `http://${line.address}`;
  }

  /** Exit code after `signal`, failing if it takes more than `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
    this.child.kill(signal);
    return this.exitCode(timeoutMs);
  }

  async exitCode(timeoutMs = 30_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`did not exit within ${timeoutMs} ms; output:\n${this.output}`));
      }, timeoutMs);
    });
    try {
      return (await Promise.race([this.exited, late])).code;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** GET (or POST) a path; status and parsed body (JSON when it is). */
export async function http(
  base: string,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: unknown; text: string }> {
  const response = await fetch(`${base}${path}`, { method });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Prometheus text.
  }
  return { status: response.status, body, text };
}

/** One sample of a Prometheus text exposition, by metric name and label subset; undefined if absent. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/**
 * `multitask work` on the fixture app with two workers of two jobs each and its HTTP server on a
 * free loopback port; `queue` may also come from `env`.
 */
export function startWork(
  cwd: string,
  options: { queue?: string; extra?: string[]; env?: Record<string, string> } = {},
): CliProcess {
  const queue = options.queue === undefined ? [] : ['--queue', options.queue];
  return new CliProcess(
    [
      'work',
      '--app',
      QUEUE_APP_PATH,
      ...queue,
      '--workers',
      '2',
      '--concurrency',
      '2',
      '--http',
      '127.0.0.1:0',
      ...(options.extra ?? []),
    ],
    { cwd, env: options.env ?? {} },
  );
}
