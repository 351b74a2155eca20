/**
 * Noticing a connection that died without closing: a node black-holed by the network, a
 * machine that lost power. Its socket stays open and quiet, and the client would wait for it
 * as long as TCP does (minutes). With heartbeats on, RabbitMQ sends a frame every half
 * heartbeat on an idle link, so a link that brought nothing for a whole heartbeat has missed
 * two: it is dead. amqplib itself only notices after two to three heartbeats; this watchdog
 * reads the socket's byte count and gives up on the link after one, so that the connection
 * fails over within the heartbeat and a second.
 */

import type { Socket } from 'node:net';

/** How often the byte count is read, at most (ms). */
const CHECK_EVERY_MS = 1_000;

/**
 * Calls `onSilent` once when `socket` has read nothing for `heartbeatSeconds`; returns the
 * function that stops watching. Heartbeats off (0): never.
 */
export function watchSilence(
  socket: Socket,
  heartbeatSeconds: number,
  onSilent: (silentMs: number) => void,
): () => void {
  if (!(heartbeatSeconds > 0)) return () => {};
  const limitMs = heartbeatSeconds * 1_000;
  const everyMs = Math.min(CHECK_EVERY_MS, limitMs / 4);
  let bytes = socket.bytesRead;
  let heardAt = Date.now();
  let checkedAt = heardAt;
  const timer = setInterval(() => {
    const now = Date.now();
    // The check ran late: this process's event loop was stuck, and what the broker sent meanwhile
    // may still wait to be read (timers run before I/O). The silence may be ours: start over.
    if (now - checkedAt > everyMs * 3) heardAt = now;
    checkedAt = now;
    if (socket.bytesRead !== bytes) {
      bytes = socket.bytesRead;
      heardAt = now;
    } else if (now - heardAt >= limitMs) {
      clearInterval(timer);
      onSilent(now - heardAt);
    }
  }, everyMs);
  // The watchdog never keeps a process alive on its own: the socket does, while it is open.
  timer.unref();
  return () => clearInterval(timer);
}
