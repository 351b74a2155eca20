// SQLite: the jobs of a consumer process that died (SIGKILL) come back at once to a consumer on
// the same host, ahead of the backlog and in their order, their attempt counted; a lease held
// by a live process, by another host, or by an earlier version (no holder) is left alone.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { openQueue, Pool } from '../src/index.js';
import {
  type Holder,
  isHolderGone,
  newOwner,
  parseOwner,
  readProcStat,
  SELF,
} from '../src/queue/transports/sqlite-holder.js';
import { Reclaimer } from '../src/queue/transports/sqlite-reclaim.js';
import { SqliteStore } from '../src/queue/transports/sqlite-store.js';
import { Nap, NapFirst, Record } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import { QUEUE_APP, runLines, tempDir, uniqueQueue } from './queue-helpers.js';

const CONSUMER = fileURLToPath(new URL('./fixtures/queue-consumer.ts', import.meta.url));
const linux = typeof readProcStat('self') === 'object';
const noProc = linux ? undefined : 'no /proc here: start times cannot be read';
const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

/** A process that exited: its pid is (for the moment) no one's. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

describe('the holder check', () => {
  test('this process is alive; its pid with another start time is gone (a reused pid)', {
    skip: noProc,
  }, () => {
    assert.equal(typeof SELF.start, 'number');
    assert.equal(isHolderGone(SELF), false);
    assert.equal(isHolderGone({ ...SELF, start: SELF.start! + 1 }), true);
  });

  test('a pid with no process, or a zombie, is gone; an unreadable one counts as alive', async () => {
    const holder: Holder = { host: SELF.host, pid: process.pid, start: 42 };
    assert.equal(
      isHolderGone(holder, () => 'missing'),
      true,
    );
    assert.equal(
      isHolderGone(holder, () => ({ state: 'Z', start: 42 })),
      true,
    );
    assert.equal(
      isHolderGone(holder, () => ({ state: 'S', start: 42 })),
      false,
    );
    // Nothing known from /proc: pid liveness decides (and this pid lives).
    assert.equal(
      isHolderGone(holder, () => 'unknown'),
      false,
    );
    assert.equal(isHolderGone({ ...holder, pid: await deadPid() }), true);
  });

  test('without a start time (no /proc) only pid liveness is checked', async () => {
    assert.equal(isHolderGone({ ...SELF, start: null }), false);
    assert.equal(isHolderGone({ ...SELF, pid: await deadPid(), start: null }), true);
  });

  test("an owner names its holder; an earlier version's owner (a UUID) names none", () => {
    assert.deepEqual(parseOwner(newOwner()), SELF);
    assert.notEqual(newOwner(), newOwner(), 'each lane is its own owner');
    assert.equal(parseOwner(randomUUID()), undefined);
    assert.equal(parseOwner('{not json'), undefined);
  });
});

describe('the reclaimer', () => {
  test('takes back only dead holders on this host, ahead of the backlog, attempt kept, once per interval', {
    skip: noProc,
  }, () => {
    const store = new SqliteStore(join(dir, `unit-${randomUUID()}.db`));
    try {
      // A job on its first lease (attempt 1 counted), its lease a minute from running out.
      const leased = () => store.insert([randomUUID(), 'q', '{}', 1, Date.now() + 60_000, null, 0]);
      const own = (seq: number | bigint, owner: string) =>
        store.db.prepare('UPDATE jobs SET owner = ? WHERE seq = ?').run(owner, seq);
      store.insert([randomUUID(), 'q', '{}', 0, Date.now() - 1_000, null, 0]); // the backlog
      const dead = newOwner({ ...SELF, start: SELF.start! + 1 });
      const rows = { dead1: leased(), self: leased(), elsewhere: leased(), old: leased(), dead2: leased() };
      own(rows.dead1, dead);
      own(rows.dead2, dead);
      own(rows.self, newOwner());
      own(rows.elsewhere, newOwner({ host: 'elsewhere', pid: 1, start: 1 }));
      own(rows.old, randomUUID());
      const reclaimer = new Reclaimer(store, 100);
      assert.equal(reclaimer.reclaim(1_000), 2);
      // One lease at a time: a batch's rows come back in seq order, whatever picked them.
      const next = () =>
        store.lease
          .all({ owner: 'next', until: Date.now() + 60_000, queue: 'q', now: Date.now(), limit: 1 })
          .map((row) => [row.seq, row.attempt]);
      assert.deepEqual(
        [next(), next(), next()],
        [[[Number(rows.dead1), 2]], [[Number(rows.dead2), 2]], [[1, 1]]],
        'the reclaimed jobs first, in their order, then the backlog; their next lease counts attempt 2',
      );
      const still = store.db
        .prepare('SELECT count(*) AS n FROM jobs WHERE owner IS NOT NULL AND owner != ?')
        .get('next');
      assert.deepEqual(still, { n: 3 }, 'self, another host and a holderless lease kept theirs');
      own(rows.self, dead);
      assert.equal(reclaimer.reclaim(1_050), 0, 'no second check within the interval');
      assert.equal(reclaimer.reclaim(1_100), 1);
    } finally {
      store.db.close();
    }
  });

  test('a queue file from before holders opens, keeps its jobs, and leaves an old lease to expire', async () => {
    const path = join(dir, `old-${randomUUID()}.db`);
    const name = uniqueQueue('old');
    const log = join(dir, `${name}.log`);
    // The layout and rows the previous version wrote: a ready job and one leased by a UUID.
    const old = new Database(path);
    old.pragma('journal_mode = WAL');
    old.exec(`CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, queue TEXT NOT NULL,
      body BLOB NOT NULL, attempt INTEGER NOT NULL, run_at INTEGER NOT NULL, owner TEXT, last_error TEXT);
      CREATE INDEX jobs_due ON jobs (queue, run_at, seq);
      CREATE INDEX jobs_owner ON jobs (owner) WHERE owner IS NOT NULL;
      CREATE TABLE failed (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, queue TEXT NOT NULL,
      body BLOB NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, failed_at INTEGER NOT NULL);
      CREATE INDEX failed_queue ON failed (queue, seq);`);
    old.close();
    const queue = await openQueue(`sqlite:${path}`, { app: QUEUE_APP, pollMs: 20 });
    const pool = new Pool({ app: QUEUE_APP, size: 1 });
    try {
      await queue.dispatch(new Record(log, 'old-ready'), { queue: name });
      await queue.dispatch(new Record(log, 'old-leased'), { queue: name });
      await queue.dispatch(new Record(log, 'dead-leased'), { queue: name });
      // A lease by a UUID (the previous version), and one by a process of this host now dead.
      const deadHolder = newOwner({ host: SELF.host, pid: await deadPid(), start: null });
      const db = new Database(path);
      const lease = db.prepare('UPDATE jobs SET owner = ?, attempt = 1, run_at = ? WHERE seq = ?');
      lease.run(randomUUID(), Date.now() + 60_000, 2);
      lease.run(deadHolder, Date.now() + 60_000, 3);
      db.close();
      const consumer = pool.consume(queue, { queue: name });
      // The dead holder's job ran: the holder check ran, and passed over the holderless lease.
      await eventually(() => consumer.counts.completed === 2);
      assert.deepEqual(
        runLines(log).map((line) => [line.tag, line.attempt]),
        [
          ['dead-leased', 2],
          ['old-ready', 1],
        ],
      );
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 1, delayed: 0, failed: 0 });
    } finally {
      await pool.close({ graceMs: 0 });
      await queue.close();
    }
  });
});

/** Starts the fixture consumer process and waits until it takes jobs. */
async function startConsumer(env: { [name: string]: string }) {
  const child = spawn(process.execPath, ['--import', 'tsx', CONSUMER], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = once(child, 'exit');
  await eventually(() => output.includes('consuming') || child.exitCode !== null, 30_000);
  assert.ok(output.includes('consuming'), `the consumer started: ${output}`);
  return { child, pid: child.pid!, exited };
}

describe('a consumer process killed on this host', { skip: noProc }, () => {
  test('its jobs run again here within 1 s, before the backlog, in order, attempt counted; alive, it keeps them', async (t) => {
    const url = `sqlite:${join(dir, 'reclaim.db')}`;
    const name = uniqueQueue('reclaim');
    const log = join(dir, `${name}.log`);
    const queue = await openQueue(url, { app: QUEUE_APP }); // default pollMs (100) and leaseMs (30 s)
    const pool = new Pool({ app: QUEUE_APP, size: 1 });
    try {
      const held = ['s0', 's1', 's2', 's3'];
      for (const tag of held) await queue.dispatch(new NapFirst(60_000, log, tag), { queue: name });
      // 2 workers x 2 slots: the child leases exactly the four long jobs, for 30 s.
      const first = await startConsumer({ QUEUE_URL: url, QUEUE_NAME: name, WORKERS: '2', CONCURRENCY: '2' });
      const lines = () => runLines(log);
      await eventually(
        () => lines().filter((l) => l.kind === 'start' && l.pid === first.pid).length === 4,
        30_000,
      );

      // Alive: a consumer here drains a backlog over several holder checks and takes none of its jobs.
      for (let i = 0; i < 10; i++) await queue.dispatch(new Nap(40, log, `a${i}`), { queue: name });
      const since = Date.now();
      const consumer = pool.consume(queue, { queue: name, concurrency: 1 });
      await eventually(() => consumer.counts.completed === 10, 30_000);
      assert.ok(Date.now() - since >= 300, 'the drain spanned at least three holder checks');
      assert.equal(lines().filter((l) => l.pid === process.pid && l.tag.startsWith('s')).length, 0);
      assert.equal((await queue.stats(name)).inFlight, 4, 'the live process keeps its four leases');

      // Dead: a backlog waits, the child is killed; its four jobs come back here at once.
      const backlog = 40;
      for (let i = 0; i < backlog; i++) await queue.dispatch(new Nap(25, log, `b${i}`), { queue: name });
      const killedAt = Date.now();
      first.child.kill('SIGKILL');
      const reran = () =>
        lines().filter((l) => l.kind === 'end' && l.pid === process.pid && l.tag.startsWith('s'));
      await eventually(() => reran().length === 4, 1_000);
      const elapsed = Date.now() - killedAt;
      t.diagnostic(`the killed process's 4 jobs ran again ${elapsed} ms after SIGKILL`);
      const backlogDone = lines().filter((l) => l.kind === 'end' && l.tag.startsWith('b')).length;
      assert.ok(backlogDone < backlog, `before the backlog was drained (${backlogDone}/${backlog} done)`);
      assert.deepEqual(
        reran().map((l) => [l.tag, l.attempt]),
        held.map((tag) => [tag, 2]),
        'in their original order; the delivery to the dead process counted as attempt 1',
      );
      // Ahead of the backlog: from the first rerun on, no backlog job started between them.
      const mine = lines().filter((l) => l.kind === 'start' && l.pid === process.pid);
      const at = mine.findIndex((l) => l.tag === 's0');
      assert.deepEqual(
        mine.slice(at, at + 4).map((l) => l.tag),
        held,
      );
      await first.exited;
      await eventually(() => consumer.counts.completed === 10 + 4 + backlog, 30_000);
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
    } finally {
      await pool.close({ graceMs: 0 });
      await queue.close();
    }
  });
});
