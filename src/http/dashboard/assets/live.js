/**
 * The page's one live link: an EventSource on `api/stream` (with `?queue=` on a queue's or a
 * job's page). EventSource reconnects by itself after a dropped connection; when the server
 * stays away long enough for the browser to give up (readyState CLOSED, as after an error
 * status from a proxy), this opens a new one, backing off to 10 s. The state it reports is
 * what the page says in its header: live, stale since when, reconnecting, refused.
 */
import { apiUrl, PATHS } from './api.js';
import { STALE_AFTER_MS } from './contract.js';

const CHECK_EVERY_MS = 1_000;
const MAX_BACKOFF_MS = 10_000;
/** An open stream silent this long is stuck (a buffering proxy, a half-open socket): start over. */
const SILENT_RESTART_MS = 3 * STALE_AFTER_MS;

export class Live {
  /** @param handlers `snapshot(snapshot)`, `jobs(rows)`, `state({ live, staleSince, connecting, everLive, refused })` */
  constructor(handlers) {
    this.handlers = handlers;
    this.source = null;
    this.queue = undefined;
    this.lastSnapshotAt = 0;
    this.openedAt = 0;
    this.backoffMs = 1_000;
    this.retryAt = 0;
    this.lastState = '';
    /** The status of the server's last refusal (401, 403), while nothing better came. */
    this.refused = null;
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
  }

  /** Listens for `queue`'s job events too (undefined: snapshots only); reopens only on a change. */
  follow(queue) {
    if (this.source !== null && queue === this.queue) return;
    this.queue = queue;
    this.open();
  }

  open() {
    this.source?.close();
    const source = new EventSource(apiUrl(PATHS.stream, { queue: this.queue }), { withCredentials: true });
    this.source = source;
    this.openedAt = Date.now();
    source.addEventListener('snapshot', (event) => {
      if (source !== this.source) return;
      this.lastSnapshotAt = Date.now();
      this.backoffMs = 1_000;
      this.handlers.snapshot(JSON.parse(event.data));
      this.report();
    });
    source.addEventListener('jobs', (event) => {
      if (source === this.source) this.handlers.jobs(JSON.parse(event.data));
    });
    source.addEventListener('error', () => this.report());
    this.report();
  }

  check() {
    const source = this.source;
    if (source === null) return;
    const now = Date.now();
    if (source.readyState === EventSource.CLOSED) {
      if (this.retryAt === 0) {
        this.retryAt = now + this.backoffMs;
        this.askWhy();
      }
      if (now >= this.retryAt) {
        this.retryAt = 0;
        this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
        this.open();
      }
    } else if (
      source.readyState === EventSource.OPEN &&
      now - Math.max(this.lastSnapshotAt, this.openedAt) > SILENT_RESTART_MS
    ) {
      this.open();
    }
    this.report();
  }

  /**
   * The browser gave up on the stream: an error status rather than a lost connection. A refusal
   * (401, 403: the token changed) will not mend by itself, so the page says so.
   */
  async askWhy() {
    try {
      const response = await fetch(apiUrl(PATHS.snapshot), { credentials: 'same-origin' });
      this.refused = response.status === 401 || response.status === 403 ? response.status : null;
    } catch {
      this.refused = null;
    }
    this.report();
  }

  /** Tells the handler the state when it changed: live, or stale since the last snapshot. */
  report() {
    const fresh = this.lastSnapshotAt > 0 && Date.now() - this.lastSnapshotAt <= STALE_AFTER_MS;
    const connecting = this.source === null || this.source.readyState !== EventSource.OPEN;
    const state = {
      live: fresh,
      staleSince: fresh || this.lastSnapshotAt === 0 ? null : this.lastSnapshotAt,
      connecting,
      everLive: this.lastSnapshotAt > 0,
      refused: fresh ? null : this.refused,
    };
    const key = JSON.stringify(state);
    if (key === this.lastState) return;
    this.lastState = key;
    this.handlers.state(state);
  }
}
