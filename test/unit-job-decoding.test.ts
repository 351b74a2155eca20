// Reading a message body as a job (docs/message-format.md): every way a body is not a job, and
// the good case with its defaults.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from '../src/errors.js';
import { DEFAULT_ATTEMPTS, decodeJob, jobBodyJson } from '../src/queue/message.js';
import { TaskRegistry } from '../src/task/registry.js';
import { Task } from '../src/task/task.js';

class SendEmail extends Task<void> {
  run(): void {}
}

const registry = new TaskRegistry({ SendEmail });

function job(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({ v: 1, task: 'SendEmail', fields: { to: 'a@b.c' }, ...overrides });
}

/** The reason decodeJob gives for `body`, which must not be a job. */
function refusal(body: string): { code: string; message: string } {
  const decoded = decodeJob(body, registry);
  assert.equal(decoded.job, undefined, `decoded ${body} as a job`);
  return { code: decoded.error!.code, message: decoded.error!.message };
}

describe('job decoding', () => {
  test('a version-1 job: id, task, fields, attempts and timeout as sent', () => {
    const decoded = decodeJob(job({ id: 'order-42', attempts: 5, timeoutMs: 30_000 }), registry);
    assert.equal(decoded.error, undefined);
    assert.deepEqual(decoded.job, {
      id: 'order-42',
      task: 'SendEmail',
      fields: { to: 'a@b.c' },
      attempts: 5,
      timeoutMs: 30_000,
    });
  });

  test('optional fields left out: the fallback id (else a UUID), 3 attempts, no timeout', () => {
    const withFallback = decodeJob(job(), registry, 'amqp-message-id');
    assert.equal(withFallback.job?.id, 'amqp-message-id');
    assert.equal(withFallback.job?.attempts, DEFAULT_ATTEMPTS);
    assert.equal(DEFAULT_ATTEMPTS, 3);
    assert.equal(withFallback.job?.timeoutMs, undefined);
    assert.match(decodeJob(job(), registry).job?.id ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(decodeJob(job({ dispatchedAt: '2026-11-28T10:00:00.000Z' }), registry).error, undefined);
  });

  test('every way a body is not a job is ERR_BAD_MESSAGE, with the reason', () => {
    const cases: Array<[string, string]> = [
      ['{not json', 'Message is not a job: not JSON ('],
      ['[1,2]', 'Message is not a job: not a JSON object'],
      ['null', 'Message is not a job: not a JSON object'],
      ['"a string"', 'Message is not a job: not a JSON object'],
      [job({ v: 2 }), 'Message is not a job: "v" must be 1, got 2'],
      [job({ v: undefined }), 'Message is not a job: "v" must be 1, got undefined'],
      [job({ v: '1' }), 'Message is not a job: "v" must be 1, got "1"'],
      [job({ id: '' }), 'Message is not a job: "id" must be a non-empty string'],
      [job({ id: 42 }), 'Message is not a job: "id" must be a non-empty string'],
      [job({ task: undefined }), 'Message is not a job: "task" must be a non-empty string'],
      [job({ task: '' }), 'Message is not a job: "task" must be a non-empty string'],
      [job({ task: 7 }), 'Message is not a job: "task" must be a non-empty string'],
      [job({ fields: undefined }), 'Message is not a job: "fields" must be a JSON object, got undefined'],
      [job({ fields: null }), 'Message is not a job: "fields" must be a JSON object, got null'],
      [job({ fields: [1] }), 'Message is not a job: "fields" must be a JSON object, got an array'],
      [job({ fields: 'x' }), 'Message is not a job: "fields" must be a JSON object, got string'],
      [job({ attempts: 0 }), 'Message is not a job: "attempts" must be an integer >= 1'],
      [job({ attempts: 1.5 }), 'Message is not a job: "attempts" must be an integer >= 1'],
      [job({ attempts: '3' }), 'Message is not a job: "attempts" must be an integer >= 1'],
      [job({ timeoutMs: 0 }), 'Message is not a job: "timeoutMs" must be a number > 0'],
      [job({ timeoutMs: '100' }), 'Message is not a job: "timeoutMs" must be a number > 0'],
    ];
    for (const [body, message] of cases) {
      const { code, message: actual } = refusal(body);
      assert.equal(code, ErrorCode.BAD_MESSAGE, body);
      if (message.endsWith('(')) assert.ok(actual.startsWith(message), actual);
      else assert.equal(actual, message, body);
    }
  });

  test('a task the app does not register is ERR_TASK_NOT_REGISTERED, naming it', () => {
    const { code, message } = refusal(job({ task: 'Unknown' }));
    assert.equal(code, ErrorCode.TASK_NOT_REGISTERED);
    assert.match(message, /Task "Unknown" is not registered/);
  });
});

describe('job encoding', () => {
  test('a body written out is what JSON.stringify of the body object writes, and decodes to the job sent', () => {
    const cases: Array<[string, Record<string, unknown>, number, number | undefined]> = [
      ['6c5e5d0a-1f7e-4d61-a4a5-1b2d2c3e4f50', { to: 'a@b.c' }, 3, undefined],
      ['order-"42"\\x', { to: 'é "quoted" \n', n: 1.5, none: null, list: [1, 'two'] }, 1, 30_000],
      ['id', {}, 10, 0.5],
    ];
    const at = new Date(0).toISOString();
    for (const [id, fields, attempts, timeoutMs] of cases) {
      const object: Record<string, unknown> = { v: 1, id, task: 'SendEmail', fields, attempts };
      if (timeoutMs !== undefined) object.timeoutMs = timeoutMs;
      object.dispatchedAt = at;
      const written = jobBodyJson(id, 'SendEmail', fields, attempts, timeoutMs, at);
      assert.equal(written, JSON.stringify(object));
      const decoded = decodeJob(written, registry);
      assert.equal(decoded.error, undefined);
      assert.equal(decoded.job!.id, id);
      assert.deepEqual(decoded.job!.fields, fields);
      assert.equal(decoded.job!.attempts, attempts);
    }
  });
});
