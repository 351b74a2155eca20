/**
 * A producer's fast path: a new job's `basic.publish` written as one buffer of three AMQP
 * frames (method, content header, body), byte for byte what amqplib's own encoder writes, but
 * without the ~20-field options object, the zero-filled scratch buffers and the four
 * allocations and copies amqplib makes per message: in a CPU profile of 30,000 dispatches
 * (`bench/queue-child.mjs dispatch multitask-amqp-many`) amqplib's `sendMessage` took 5.4 µs a
 * job, a quarter of the producer's CPU. It covers only what a job carries (persistent, an id,
 * `application/json`, a reply address, mandatory, to the default exchange); a message with
 * headers, a body past one frame, or a channel that is not open goes through amqplib as before,
 * and so does everything when amqplib's internals are not the ones this was written against
 * (amqplib 2.x: `channel.ch`, `connection.channels[ch].buffer`, `pushConfirmCallback`).
 * test/unit-amqp-frames.test.ts checks the bytes against amqplib's encoder.
 */

import type { ConfirmChannel, Options } from 'amqplib';

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_END = 0xce;
/** Type, channel and size before a frame's payload, and its end octet after. */
const FRAME_OVERHEAD = 8;
const CLASS_BASIC = 60;
const METHOD_PUBLISH = 40;
/** Property flags of basic.properties, in the order the properties are written. */
const FLAG = {
  contentType: 0x8000,
  headers: 0x2000,
  deliveryMode: 0x1000,
  replyTo: 0x0200,
  messageId: 0x0080,
};

/** The properties of a job message this path writes; anything else goes through amqplib. */
export type FrameProperties = Options.Publish & { messageId: string };

/** What amqplib 2.x keeps on a channel, used here. */
interface ChannelInternals {
  ch: number;
  connection: {
    frameMax: number;
    sentSinceLastCheck: boolean;
    channels: Array<{ buffer: { write(b: Buffer): boolean } } | null>;
  };
  pushConfirmCallback(callback: (error: Error | null) => void): void;
  sendMessage: unknown;
}

/** Sends one job to `queue` on `channel` with its confirm callback; false past the channel's buffer, as `sendToQueue`. */
export type JobSender = (
  queue: string,
  body: string | Buffer,
  properties: Options.Publish,
  onConfirm: (error: Error | null) => void,
) => boolean;

/** amqplib's own `sendMessage` of an open channel (a closed one has it replaced with a thrower). */
let openSendMessage: unknown;

const senders = new WeakMap<ConfirmChannel, JobSender>();

/**
 * The fastest way to publish jobs on `channel` (made once per channel): the frames written here
 * where this amqplib's internals are the expected ones, `sendToQueue` otherwise (and for any
 * message this path does not cover).
 */
export function jobSender(channel: ConfirmChannel): JobSender {
  let sender = senders.get(channel);
  if (sender === undefined) {
    sender = makeSender(channel);
    senders.set(channel, sender);
  }
  return sender;
}

function makeSender(channel: ConfirmChannel): JobSender {
  const viaAmqplib: JobSender = (queue, body, properties, onConfirm) =>
    channel.sendToQueue(queue, typeof body === 'string' ? Buffer.from(body) : body, properties, onConfirm);
  const internals = channel as unknown as ChannelInternals;
  openSendMessage ??= Object.getPrototypeOf(Object.getPrototypeOf(channel))?.sendMessage;
  const record = internals.connection?.channels?.[internals.ch];
  if (
    typeof internals.pushConfirmCallback !== 'function' ||
    typeof record?.buffer?.write !== 'function' ||
    typeof internals.connection.frameMax !== 'number' ||
    internals.sendMessage !== openSendMessage
  )
    return viaAmqplib;
  const { buffer } = record;
  return (queue, body, properties, onConfirm) => {
    // Closed since (amqplib swaps in a thrower), or not a plain job: amqplib's path, and its errors.
    if (internals.sendMessage !== openSendMessage || !isJobProperties(properties))
      return viaAmqplib(queue, body, properties, onConfirm);
    const frames = publishFrames(internals.ch, queue, body, properties, internals.connection.frameMax);
    if (frames === undefined) return viaAmqplib(queue, body, properties, onConfirm);
    internals.connection.sentSinceLastCheck = true;
    const flowing = buffer.write(frames);
    internals.pushConfirmCallback(onConfirm);
    return flowing;
  };
}

/** The properties a job may have, and this path writes. */
const JOB_PROPERTIES = new Set(['persistent', 'mandatory', 'contentType', 'messageId', 'replyTo']);

/** True when `properties` are a job's: persistent, an id, nothing but what {@link publishFrames} writes. */
function isJobProperties(properties: Options.Publish): properties is FrameProperties {
  if (properties.persistent !== true || typeof properties.messageId !== 'string') return false;
  for (const key in properties) {
    if (!JOB_PROPERTIES.has(key) && (properties as Record<string, unknown>)[key] !== undefined) return false;
  }
  return true;
}

/**
 * The three frames of a persistent `basic.publish` of `body` to `queue` (default exchange) on
 * channel `ch`, with an empty header table as amqplib sends; undefined when a name is too long
 * for a short string or the body does not fit in one frame of `frameMax`.
 */
export function publishFrames(
  ch: number,
  queue: string,
  body: string | Buffer,
  properties: FrameProperties,
  frameMax: number,
): Buffer | undefined {
  const queueBytes = Buffer.byteLength(queue);
  const bodyBytes = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const { contentType, replyTo, messageId } = properties;
  const typeBytes = contentType === undefined ? -1 : Buffer.byteLength(contentType);
  const replyBytes = replyTo === undefined ? -1 : Buffer.byteLength(replyTo);
  const idBytes = Buffer.byteLength(messageId);
  if (queueBytes > 255 || typeBytes > 255 || replyBytes > 255 || idBytes > 255) return undefined;
  if (bodyBytes + FRAME_OVERHEAD > frameMax || bodyBytes === 0) return undefined;
  const methodSize = 9 + queueBytes;
  let propertyBytes = 4 + 1 + 1 + idBytes; // headers (empty table), delivery mode, message id
  if (typeBytes >= 0) propertyBytes += 1 + typeBytes;
  if (replyBytes >= 0) propertyBytes += 1 + replyBytes;
  const headerSize = 14 + propertyBytes;
  const frames = Buffer.allocUnsafe(3 * FRAME_OVERHEAD + methodSize + headerSize + bodyBytes);
  // Method frame: basic.publish(ticket 0, exchange "", routing key, mandatory, not immediate).
  let at = frameStart(frames, 0, FRAME_METHOD, ch, methodSize);
  at = frames.writeUInt16BE(CLASS_BASIC, at);
  at = frames.writeUInt16BE(METHOD_PUBLISH, at);
  at = frames.writeUInt16BE(0, at);
  frames[at++] = 0;
  frames[at++] = queueBytes;
  at += frames.write(queue, at, 'utf8');
  frames[at++] = properties.mandatory ? 1 : 0;
  frames[at++] = FRAME_END;
  // Content header frame: class, weight, body size, flags, then the properties in flag order.
  at = frameStart(frames, at, FRAME_HEADER, ch, headerSize);
  at = frames.writeUInt16BE(CLASS_BASIC, at);
  at = frames.writeUInt16BE(0, at);
  at = frames.writeBigUInt64BE(BigInt(bodyBytes), at);
  let flags = FLAG.headers | FLAG.deliveryMode | FLAG.messageId;
  if (typeBytes >= 0) flags |= FLAG.contentType;
  if (replyBytes >= 0) flags |= FLAG.replyTo;
  at = frames.writeUInt16BE(flags, at);
  if (contentType !== undefined) at = shortString(frames, at, contentType, typeBytes);
  at = frames.writeUInt32BE(0, at);
  frames[at++] = 2;
  if (replyTo !== undefined) at = shortString(frames, at, replyTo, replyBytes);
  at = shortString(frames, at, messageId, idBytes);
  frames[at++] = FRAME_END;
  // Body frame.
  at = frameStart(frames, at, FRAME_BODY, ch, bodyBytes);
  at += typeof body === 'string' ? frames.write(body, at, 'utf8') : body.copy(frames, at);
  frames[at] = FRAME_END;
  return frames;
}

function frameStart(frames: Buffer, at: number, type: number, ch: number, size: number): number {
  frames[at] = type;
  frames.writeUInt16BE(ch, at + 1);
  frames.writeUInt32BE(size, at + 3);
  return at + 7;
}

function shortString(frames: Buffer, at: number, text: string, bytes: number): number {
  frames[at] = bytes;
  return at + 1 + frames.write(text, at + 1, 'utf8');
}
