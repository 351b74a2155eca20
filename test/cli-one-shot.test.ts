/**
 * The one-shot commands (`dispatch`, `status`, `failed`) open their queue the same way: a
 * broker that is down is retried, each try logged with the password masked, up to
 * `--connect-timeout-ms`, then the command gives up in one line with exit code 1. No RabbitMQ
 * needed: nothing listens on port 1 of loopback, so each connection is refused at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QUEUE_APP_PATH, runCli } from './cli-helpers.js';
import { tempDir } from './queue-helpers.js';

const DOWN = 'amqp://app:s3cr3t@127.0.0.1:1/';

describe('one-shot commands and a broker that is down', () => {
  it('dispatch, status and failed retry up to --connect-timeout-ms, then exit 1 in one line', () => {
    const cwd = tempDir();
    const commands = [
      ['dispatch', '--app', QUEUE_APP_PATH, '--task', 'Record', '{"file":"","tag":"a"}'],
      ['status'],
      ['failed', 'list'],
    ];
    for (const args of commands) {
      const started = Date.now();
      const result = runCli([...args, '--url', DOWN, '--connect-timeout-ms', '1500'], { cwd });
      const elapsedMs = Date.now() - started;
      assert.equal(result.status, 1, `${args[0]}: ${result.stderr}`);
      assert.equal(result.stdout, '', `${args[0]} printed nothing`);
      const lines = result.stderr.trim().split('\n');
      assert.match(lines.at(-1)!, /^multitask: ERR_BROKER_UNAVAILABLE: /, `${args[0]}: ${result.stderr}`);
      const tries = lines
        .slice(0, -1)
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.msg === 'broker unreachable, retrying');
      assert.ok(tries.length >= 1, `${args[0]} said it retries: ${result.stderr}`);
      for (const line of tries) assert.equal(line.url, 'amqp://app:***@127.0.0.1:1/');
      assert.ok(!result.stderr.includes('s3cr3t'), 'the password never reaches the output');
      assert.ok(elapsedMs >= 1_000, `${args[0]} waited for the broker (${elapsedMs} ms)`);
    }
  });
});
