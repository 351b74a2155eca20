// The queue conformance suite on the embedded SQLite transport (one temporary database file).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { openQueue } from '../src/index.js';
import { queueConformance } from './conformance/queue-conformance.js';
import { QUEUE_APP, tempDir } from './queue-helpers.js';

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

queueConformance({
  name: 'sqlite',
  open: (options) => openQueue(`sqlite:${join(dir, 'queue.db')}`, { app: QUEUE_APP, pollMs: 20, ...options }),
  cleanup: async () => {},
});
