// The RabbitMQ options of a cluster on their own, no broker: URL lists (read, refused, masked),
// the heartbeat a URL asks for, TLS and quorum options, and the placement arguments of the
// topology.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ErrorCode, maskUrl, openQueue } from '../src/index.js';
import { resolveQueueOptions } from '../src/queue/options.js';
import { urlHeartbeat, withHeartbeat } from '../src/queue/transports/amqp-dial.js';
import { topology } from '../src/queue/transports/amqp-topology.js';
import { parseQueueUrl } from '../src/queue/url.js';

/** The ERR_INVALID_OPTION `parseQueueUrl` throws for `url`, or a failure when it reads it. */
function refusal(url: string): Error & { code?: string } {
  try {
    parseQueueUrl(url);
  } catch (error) {
    return error as Error & { code?: string };
  }
  assert.fail(`read ${url}`);
}

describe('a list of RabbitMQ URLs', () => {
  test('each entry is a node: its URL, masked URL, host:port, and whether it is TLS', () => {
    const location = parseQueueUrl(
      'amqp://u:p%2Cw@rabbit-0.rabbit:5672/jobs, amqp://u:p%2Cw@rabbit-1.rabbit/jobs,amqps://u:p%2Cw@rabbit-2.rabbit',
    );
    assert.equal(location.kind, 'amqp');
    if (location.kind !== 'amqp') return;
    assert.deepEqual(
      location.nodes.map(({ safeUrl, address, tls }) => ({ safeUrl, address, tls })),
      [
        { safeUrl: 'amqp://u:***@rabbit-0.rabbit:5672/jobs', address: 'rabbit-0.rabbit:5672', tls: false },
        { safeUrl: 'amqp://u:***@rabbit-1.rabbit/jobs', address: 'rabbit-1.rabbit:5672', tls: false },
        { safeUrl: 'amqps://u:***@rabbit-2.rabbit', address: 'rabbit-2.rabbit:5671', tls: true },
      ],
    );
    assert.equal(location.nodes[1]!.url, 'amqp://u:p%2Cw@rabbit-1.rabbit/jobs', 'trimmed, kept as written');
    assert.equal(
      location.safeUrl,
      'amqp://u:***@rabbit-0.rabbit:5672/jobs,amqp://u:***@rabbit-1.rabbit/jobs,amqps://u:***@rabbit-2.rabbit',
    );
  });

  test('a single URL is a list of one, as before', () => {
    const location = parseQueueUrl('amqp://guest:guest@127.0.0.1:5672');
    assert.ok(location.kind === 'amqp' && location.nodes.length === 1);
    assert.equal(location.safeUrl, 'amqp://guest:***@127.0.0.1:5672');
  });

  test('bad lists are refused with ERR_INVALID_OPTION, and the message never shows a password', () => {
    const cases = [
      // A raw comma in the password splits it: the rest is no URL.
      'amqp://user:pa,ss-secret@h1:5672,amqp://user:pa,ss-secret@h2:5672',
      // Digits before the comma read as a port: the entry parses, the next one does not.
      'amqp://user:1234,5678secret@h1:5672',
      'amqp://user:secret@h1:5672,,amqp://user:secret@h2:5672',
      'amqp://user:secret@h1:5672,',
      'amqp://user:secret@h1:5672,sqlite:jobs.db',
      'amqp://user:secret@h1:5672,http://user:secret@h2',
      'amqp://user:secret@h1:5672,amqp://user:secret@h1:5672',
    ];
    for (const url of cases) {
      const error = refusal(url);
      assert.equal(error.code, ErrorCode.INVALID_OPTION, url);
      assert.match(error.message, /Invalid option "url"/);
      for (const secret of ['secret', 'ss-secret', '5678', 'pa,ss'])
        assert.ok(!error.message.includes(secret), `${url}: ${error.message}`);
    }
    assert.match(refusal(cases[0]!).message, /a comma in a password is written %2C/);
    assert.match(refusal(cases[6]!).message, /each node once/);
  });

  test('maskUrl masks every entry of a list, and what a raw comma split off', () => {
    assert.equal(maskUrl('amqp://a:x@h1,amqp://b:y@h2:5673/v'), 'amqp://a:***@h1,amqp://b:***@h2:5673/v');
    assert.equal(maskUrl('amqp://u:pa,ss@h1'), 'amqp://***,***@h1');
    assert.equal(maskUrl('amqp://u:12,34@h1,amqp://u:12,34@h2'), 'amqp://***,***@h1,amqp://***,***@h2');
    assert.equal(maskUrl('amqp://h1:5672,amqp://h2:5672'), 'amqp://h1:5672,amqp://h2:5672');
  });

  test('openQueue refuses a bad list before dialling anything', async () => {
    await assert.rejects(
      openQueue('amqp://u:s3cret@h1,,amqp://u:s3cret@h2'),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, ErrorCode.INVALID_OPTION);
        assert.ok(!error.message.includes('s3cret'));
        return true;
      },
    );
  });
});

describe('the heartbeat', () => {
  test("the option's value is asked for, unless the URL names its own (the URL wins: it is per node)", () => {
    assert.equal(withHeartbeat('amqp://h', 15), 'amqp://h?heartbeat=15');
    assert.equal(withHeartbeat('amqp://h/v?frameMax=8192', 5), 'amqp://h/v?frameMax=8192&heartbeat=5');
    assert.equal(withHeartbeat('amqp://h?heartbeat=30', 15), 'amqp://h?heartbeat=30');
    assert.equal(urlHeartbeat('amqp://h?channelMax=9&heartbeat=30'), 30);
    assert.equal(urlHeartbeat('amqp://h'), undefined);
  });

  test('defaults to 15 s; 0 turns it off; anything else is refused', () => {
    assert.equal(resolveQueueOptions({}).amqp.heartbeatSeconds, 15);
    assert.equal(resolveQueueOptions({ heartbeatSeconds: 0 }).amqp.heartbeatSeconds, 0);
    for (const bad of [-1, 1.5, 601, '15'])
      assert.throws(
        () => resolveQueueOptions({ heartbeatSeconds: bad as number }),
        (error: Error & { code?: string }) => error.code === ErrorCode.INVALID_OPTION,
      );
  });
});

describe('TLS and quorum options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'multitask-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a CA file that is missing, or that holds no certificate, is refused naming the option', () => {
    assert.throws(
      () => resolveQueueOptions({ tls: { ca: join(dir, 'missing.pem') } }),
      (error: Error & { code?: string }) =>
        error.code === ErrorCode.INVALID_OPTION && /tls\.ca/.test(error.message),
    );
    writeFileSync(
      join(dir, 'junk.pem'),
      '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n',
    );
    assert.throws(
      () => resolveQueueOptions({ tls: { ca: join(dir, 'junk.pem') } }),
      (error: Error & { code?: string }) =>
        error.code === ErrorCode.INVALID_OPTION && /"tls\.ca"/.test(error.message),
    );
  });

  test('a client certificate needs its key', () => {
    assert.throws(
      () => resolveQueueOptions({ tls: { cert: '-----BEGIN CERTIFICATE-----\n' } }),
      (error: Error & { code?: string }) =>
        error.code === ErrorCode.INVALID_OPTION && /tls\.key/.test(error.message),
    );
  });

  test('quorum placement: leaders balanced by default, a group size when asked, nothing with null', () => {
    assert.deepEqual(resolveQueueOptions({}).amqp.quorum, { 'x-queue-leader-locator': 'balanced' });
    assert.deepEqual(
      resolveQueueOptions({ quorum: { initialGroupSize: 3, leaderLocator: 'client-local' } }).amqp.quorum,
      {
        'x-queue-leader-locator': 'client-local',
        'x-quorum-initial-group-size': 3,
      },
    );
    assert.deepEqual(resolveQueueOptions({ quorum: { leaderLocator: null } }).amqp.quorum, {});
    for (const quorum of [{ initialGroupSize: 0 }, { leaderLocator: 'random' }])
      assert.throws(() => resolveQueueOptions({ quorum: quorum as never }), /quorum\./);
  });

  test('placement goes on every quorum queue of the topology, not on the stream', () => {
    for (const { name, arguments: args } of topology('jobs', {
      deliveryLimit: 20,
      placement: { 'x-queue-leader-locator': 'balanced' },
    })) {
      if (args['x-queue-type'] === 'stream') assert.equal(args['x-queue-leader-locator'], undefined, name);
      else assert.equal(args['x-queue-leader-locator'], 'balanced', name);
    }
  });

  test('delayRungs: 4 to 10 rungs, the full ladder by default', () => {
    assert.equal(resolveQueueOptions({}).amqp.delayLadder.length, 10);
    assert.deepEqual(
      resolveQueueOptions({ delayRungs: 4 }).amqp.delayLadder,
      [50, 3_200, 204_800, 13_107_200],
    );
    for (const bad of [3, 11, 5.5])
      assert.throws(() => resolveQueueOptions({ delayRungs: bad }), /delayRungs/);
  });

  test('nodeOrder is random or listed', () => {
    assert.equal(resolveQueueOptions({}).amqp.nodeOrder, 'random');
    assert.equal(resolveQueueOptions({ nodeOrder: 'listed' }).amqp.nodeOrder, 'listed');
    assert.throws(() => resolveQueueOptions({ nodeOrder: 'first' as never }), /nodeOrder/);
  });
});
