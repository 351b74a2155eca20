/**
 * One socket write per round of amqplib's frame multiplexer, not one per frame. amqplib writes
 * each frame (a whole small message is one) to the socket on its own: a producer's batch of
 * 1,000 jobs made 1,000 `write` system calls, 4 µs of CPU a job, a fifth of a producer's time
 * (CPU profile of `bench/queue-child.mjs dispatch multitask-amqp-many`). Corking the socket
 * around the round that writes what the channels queued turns those into one `writev`, with
 * the same bytes in the same order; nothing is held past the round.
 */

import type { Socket } from 'node:net';
import type { ChannelModel } from 'amqplib';

/** amqplib's internals this relies on (lib/connection.js, lib/mux.js); absent in another version: left alone. */
interface Muxed {
  muxer?: { out?: Socket; _readIncoming?: () => void };
}

/** Makes `model`'s multiplexer write each round as one `writev`; true when it could. */
export function coalesceWrites(model: ChannelModel): boolean {
  const muxer = (model.connection as unknown as Muxed).muxer;
  const out = muxer?.out;
  const round = muxer?._readIncoming;
  if (
    muxer === undefined ||
    out === undefined ||
    typeof out.cork !== 'function' ||
    typeof round !== 'function'
  )
    return false;
  muxer._readIncoming = function coalesced(this: unknown) {
    out.cork();
    try {
      round.call(muxer);
    } finally {
      out.uncork();
    }
  };
  return true;
}
