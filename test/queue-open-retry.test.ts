// Opening a queue whose broker is down: `connectTimeoutMs: Infinity` retries until the caller's
// signal aborts, every failed attempt is reported (numbered from 1), and aborting leaves nothing
// behind. A refused login still fails at once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, openQueue } from '../src/index.js';
import { failure, runScript } from './helpers.js';
import { AMQP_TEST_URL, amqpSkipReason } from './queue-helpers.js';

const DOWN = 'amqp://operator:s3cret-pw@127.0.0.1:1/';
// Asked first: the child process below blocks this loop, which would time the probe out.
const brokerSkip = await amqpSkipReason();

describe('openQueue on a broker that is down', () => {
  test('retries forever with Infinity, reports each attempt, and an abort ends it at once with nothing left behind', () => {
    const run = runScript(new URL('./fixtures/open-abort.ts', import.meta.url), { args: [] });
    assert.equal(run.signal, null, `the process did not exit by itself: ${run.stderr}`);
    assert.equal(run.status, 0, run.stderr);
    const { retries, outcome, rejectedAfterMs } = JSON.parse(run.stdout) as {
      retries: Array<{ attempt: number; delayMs: number; code: string; message: string }>;
      outcome: { name?: string; opened?: boolean };
      rejectedAfterMs: number;
    };
    assert.deepEqual(
      retries.map((retry) => retry.attempt),
      [1, 2, 3],
      'each failed attempt is reported, numbered from 1',
    );
    for (const retry of retries) {
      assert.equal(retry.code, ErrorCode.BROKER_UNAVAILABLE);
      assert.ok(retry.delayMs > 0);
      assert.ok(retry.message.includes('amqp://operator:***@127.0.0.1:1/'), retry.message);
      assert.ok(!retry.message.includes('s3cret-pw'));
    }
    assert.equal(outcome.name, 'AbortError');
    // The pause before attempt 4 is 400 ms or more (100 ms doubling, with jitter): an abort does not wait for it.
    assert.ok(rejectedAfterMs < 200, `rejected ${rejectedAfterMs} ms after the abort`);
  });

  test('a signal aborted before the call: AbortError, no attempt made', async () => {
    let attempts = 0;
    const error = await failure(
      openQueue(DOWN, {
        connectTimeoutMs: Number.POSITIVE_INFINITY,
        signal: AbortSignal.abort(),
        onConnectRetry: () => attempts++,
      }),
    );
    assert.equal(error.name, 'AbortError');
    assert.equal(attempts, 0);
  });

  test('an abort during a finite timeout rejects with AbortError, not ERR_BROKER_UNAVAILABLE', async () => {
    const controller = new AbortController();
    const error = await failure(
      openQueue(DOWN, {
        connectTimeoutMs: 60_000,
        signal: controller.signal,
        onConnectRetry: ({ attempt }) => {
          if (attempt === 1) controller.abort();
        },
      }),
    );
    assert.equal(error.name, 'AbortError');
  });

  test('connectTimeoutMs is a number > 0 or Infinity; signal an AbortSignal', async () => {
    for (const connectTimeoutMs of [0, -1, Number.NaN, '1000']) {
      const error = await failure(openQueue(DOWN, { connectTimeoutMs: connectTimeoutMs as number }));
      assert.equal(error.code, ErrorCode.INVALID_OPTION, String(connectTimeoutMs));
      assert.match(error.message, /"connectTimeoutMs"/);
    }
    const error = await failure(openQueue(DOWN, { signal: 'stop' as unknown as AbortSignal }));
    assert.equal(error.code, ErrorCode.INVALID_OPTION);
    assert.match(error.message, /"signal"/);
  });
});

describe('openQueue on a broker that refuses', { skip: brokerSkip }, () => {
  test('a refused login fails at once with ERR_BROKER_REFUSED, even when retrying forever', async () => {
    const url = new URL(AMQP_TEST_URL);
    url.password = 'not-the-password';
    let retries = 0;
    const error = await failure(
      openQueue(url.href, {
        connectTimeoutMs: Number.POSITIVE_INFINITY,
        signal: new AbortController().signal,
        onConnectRetry: () => retries++,
      }),
    );
    assert.equal(error.code, ErrorCode.BROKER_REFUSED);
    assert.match(error.message, /refused the login/);
    assert.equal(retries, 0);
  });
});
