// Where a RabbitMQ consumer spends its CPU on I/O-bound jobs, warm, stage by stage:
// `node experiments/consume-profile.mjs [jobs] [rounds] [--no-profile]` (from bench/, after
// `npm run build` at the root). For each round it pre-fills a quorum queue with `jobs` jobs (a
// 20 ms timer each, 1,000 in flight), then consumes it in turn with the plain amqplib consumer
// of queue.mjs's io part and with `pool.consume` (one worker × 1,000), the main thread under
// V8's CPU profiler (a sample every 100 µs) for the consuming only. A first round warms up,
// uncounted. It prints, per job and as medians over the rounds: the process CPU (every thread,
// user and system apart), and the main thread's busy time by stage, found by function names in
// its profile (amqplib reading frames; multitask decoding a job, submitting it, sending it to
// the worker, taking its result back; acks; the plain consumer's timers; garbage collection).
// The worker thread is not profiled: its share is in the process CPU. The profiler's own
// sampling thread adds to the process CPU of both alike: `--no-profile` leaves the profiler out
// and prints the CPU figures alone. The stage names follow multitask's internals (dist/) and
// amqplib's, so they may need updating with them: it sizes the hop between threads, no more.
import { Session } from 'node:inspector/promises';
import { openQueue, Pool } from 'multitask';
import {
  AMQP_URL,
  completed,
  dispatchWindow,
  median,
  plainIoConsumer,
  sweepAmqpQueues,
} from '../harness.mjs';
import { Sleep } from '../queue-tasks.mjs';

const JOBS = Number(process.argv[2] ?? 30_000);
const ROUNDS = Number(process.argv[3] ?? 3);
/** `--no-profile`: the CPU figures alone, without the profiler's own cost in them. */
const PROFILE = process.argv[4] !== '--no-profile';
const SLOTS = 1_000;
const APP = new URL('../queue-app.mjs', import.meta.url);
const PREFIX = `bench.consume-profile.${process.pid}.`;

/**
 * Stages as [label, functions, functions not]: a sample counts for a stage when one of its
 * functions is on the stack and none of its functions not. A function is `name file` (file: the
 * end of its script's URL).
 */
const STAGES = [
  // Up to the consumer's callback, which amqplib calls from dispatchMessage.
  ['amqplib: read and parse frames', ['go connection.js'], ['dispatchMessage channel.js']],
  ['multitask: decode a job', ['decodeJob message.js'], []],
  ['multitask: delivery and its ack record', ['AmqpDelivery amqp-delivery.js', 'track amqp-acks.js'], []],
  ['multitask: submit a call', ['submit pool.js'], []],
  ['multitask: send calls to the worker', ['#send scheduler.js'], []],
  ['multitask: take results back', ['onResults workforce.js', '(anon) messageport'], []],
  ['acks written', ['ack channel_model.js'], []],
  ['timers: the jobs’ 20 ms', ['listOnTimeout timers'], ['ack channel_model.js']],
  ['garbage collection', ['(garbage collector) '], []],
];

/** The plain consumer of queue.mjs's io part, measured from its channel open to its last ack. */
async function bare(name) {
  const consumer = await plainIoConsumer(AMQP_URL, name, SLOTS);
  const measured = await measure(() => consumer.drain(JOBS));
  await consumer.close();
  return measured;
}

/** `work` timed by process CPU, the main thread profiled meanwhile unless `--no-profile`. */
async function measure(work) {
  const session = PROFILE ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
  }
  const cpu0 = process.cpuUsage();
  await work();
  const { user, system } = process.cpuUsage(cpu0);
  const measured = {
    cpuPerJob: (user + system) / JOBS,
    userPerJob: user / JOBS,
    systemPerJob: system / JOBS,
  };
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    measured.stages = stagesOf(profile);
  }
  return measured;
}

/** Each stage's main-thread time a job, in µs, and the busy time of the main thread. */
function stagesOf(profile) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (node) => `${node.callFrame.functionName || '(anon)'} ${node.callFrame.url.split('/').pop()}`;
  const onStack = (names, stack) => names.some((name) => stack.some((key) => key.startsWith(name)));
  const time = Object.fromEntries(STAGES.map(([label]) => [label, 0]));
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    if (nodes.get(id).callFrame.functionName === '(idle)') return;
    busy += delta;
    const stack = [];
    for (let at = id; at !== undefined; at = parent.get(at)) stack.push(keyOf(nodes.get(at)));
    for (const [label, adds, takes] of STAGES)
      if (onStack(adds, stack) && !onStack(takes, stack)) time[label] += delta;
  });
  const stages = Object.fromEntries(Object.entries(time).map(([label, us]) => [label, us / JOBS]));
  stages['main thread busy'] = busy / JOBS;
  return stages;
}

const queue = await openQueue(AMQP_URL, { app: APP });
const pool = new Pool({ app: APP, size: 1, concurrency: SLOTS });
await pool.ready;
const runs = { plain: [], multitask: [] };
try {
  for (let round = 0; round <= ROUNDS; round++) {
    for (const kind of Object.keys(runs)) {
      const name = `${PREFIX}${round}.${kind}`;
      await dispatchWindow(
        queue,
        () => new Sleep(20, 'x'.repeat(100)),
        JOBS,
        { queue: name, attempts: 3 },
        SLOTS,
      );
      const result =
        kind === 'plain'
          ? await bare(name)
          : await (async () => {
              const consumer = pool.consume(queue, { queue: name, concurrency: SLOTS });
              const measured = await measure(() => completed(consumer, JOBS));
              await consumer.stop();
              return measured;
            })();
      if (round > 0) runs[kind].push(result);
      console.error(
        `round ${round}${round === 0 ? ' (warm-up)' : ''}, ${kind}: ${result.cpuPerJob.toFixed(1)} µs CPU a job`,
      );
    }
  }
} finally {
  await pool.close();
  await queue.close();
  await sweepAmqpQueues(AMQP_URL, PREFIX);
}
const cell = (kind, pick) => median(runs[kind].map(pick)).toFixed(2);
console.log(
  `| µs a job, medians of ${ROUNDS} rounds of ${JOBS} | plain amqplib consumer | multitask, 1 worker |`,
);
console.log('| --- | ---: | ---: |');
console.log(
  `| process CPU, both threads | ${cell('plain', (r) => r.cpuPerJob)} | ${cell('multitask', (r) => r.cpuPerJob)} |`,
);
console.log(
  `| of which user | ${cell('plain', (r) => r.userPerJob)} | ${cell('multitask', (r) => r.userPerJob)} |`,
);
console.log(
  `| of which system (the kernel: sockets, wake-ups) | ${cell('plain', (r) => r.systemPerJob)} | ${cell('multitask', (r) => r.systemPerJob)} |`,
);
if (PROFILE)
  for (const label of [...STAGES.map(([stage]) => stage), 'main thread busy'])
    console.log(
      `| ${label} | ${cell('plain', (r) => r.stages[label])} | ${cell('multitask', (r) => r.stages[label])} |`,
    );
