// Deletes queues that earlier test or benchmark runs left on the local broker (a run that was
// killed cannot clean up after itself), so that stale quorum queues do not pile up across runs.
// Only names of the shapes the tests and benchmarks use are touched.
import { execFileSync } from 'node:child_process';
import amqp from 'amqplib';

const TEST_QUEUE = /^(amqp|proc-amqp|poison-amqp|cli-amqp|reconnect|bench|dbg|probe|smoke)[.\w-]*$/;
const url = process.env.MULTITASK_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

const names = execFileSync('rabbitmqctl', ['-q', '--no-table-headers', 'list_queues', 'name'], {
  encoding: 'utf8',
})
  .split('\n')
  .map((line) => line.trim())
  .filter((name) => TEST_QUEUE.test(name));
if (names.length > 0) {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  for (const name of names) await channel.deleteQueue(name);
  await connection.close();
}
console.log(`== deleted ${names.length} stale test queues`);
