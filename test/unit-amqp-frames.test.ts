// The producer's fast path writes a job's basic.publish frames itself (amqp-frames.ts): the
// bytes must be exactly what amqplib's own encoder writes for the same publish, for every kind
// of job it covers, and it must step aside for what it does not cover.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { publishFrames } from '../src/queue/transports/amqp-frames.js';

// amqplib's encoders are internal (not in its exports): required by path, from its own folder.
const amqplib = createRequire(createRequire(import.meta.url).resolve('amqplib'));
const defs = amqplib('./lib/defs.js');
const { makeBodyFrame } = amqplib('./lib/frame.js');
const Args = amqplib('./lib/api_args.js');

/** What amqplib writes for `channel.sendToQueue(queue, content, options)` on channel `ch`. */
function amqplibFrames(ch: number, queue: string, content: Buffer, options: Record<string, unknown>): Buffer {
  const fields = Args.publish('', queue, options);
  return Buffer.concat([
    defs.encodeMethod(defs.BasicPublish, ch, fields),
    defs.encodeProperties(defs.BasicProperties, ch, content.length, fields),
    makeBodyFrame(ch, content),
  ]);
}

describe('AMQP publish frames', () => {
  test('are byte for byte what amqplib writes, for every job property the fast path covers', () => {
    const body = JSON.stringify({ v: 1, id: 'é-id', task: 'T', fields: { text: 'ünïcödé ✓' } });
    const cases: Array<[number, string, Record<string, unknown>]> = [
      [1, 'emails', { persistent: true, mandatory: true, contentType: 'application/json', messageId: 'a' }],
      [
        7,
        'q.delay.1000',
        { persistent: true, mandatory: true, contentType: 'application/json', messageId: 'x'.repeat(200) },
      ],
      [
        65_535,
        'é'.repeat(100),
        {
          persistent: true,
          mandatory: true,
          contentType: 'application/json',
          messageId: '6c5e5d0a-1f7e-4d61-a4a5-1b2d2c3e4f50',
          replyTo: 'amq.rabbitmq.reply-to',
        },
      ],
      [2, 'q', { persistent: true, mandatory: false, messageId: 'no-content-type' }],
    ];
    for (const [ch, queue, options] of cases) {
      const expected = amqplibFrames(ch, queue, Buffer.from(body), options);
      const written = publishFrames(ch, queue, body, options as never, 131_072);
      assert.ok(written, `${queue}: written`);
      assert.equal(written.toString('hex'), expected.toString('hex'), `${queue} on channel ${ch}`);
      assert.deepEqual(publishFrames(ch, queue, Buffer.from(body), options as never, 131_072), expected);
    }
  });

  test('step aside for what they do not cover: a body past one frame, an empty one, a name too long', () => {
    const options = { persistent: true, mandatory: true, messageId: 'id' } as const;
    assert.equal(publishFrames(1, 'q', 'x'.repeat(4_089), options, 4_096), undefined);
    assert.ok(publishFrames(1, 'q', 'x'.repeat(4_088), options, 4_096));
    assert.equal(publishFrames(1, 'q', '', options, 4_096), undefined);
    assert.equal(publishFrames(1, 'é'.repeat(128), 'x', options, 4_096), undefined);
    assert.equal(publishFrames(1, 'q', 'x', { ...options, messageId: 'i'.repeat(256) }, 4_096), undefined);
  });
});
