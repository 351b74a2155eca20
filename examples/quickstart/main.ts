/**
 * The quickstart: a CPU-bound batch through a pool, with its throughput, then a supervised
 * task that fails twice and succeeds on its third run.
 */
import { Pool } from '../../src/index.js';
import { Connect, Fib } from './tasks.js';

const pool = new Pool({
  app: new URL('./app.ts', import.meta.url),
  size: '100%',
  restart: { initialDelayMs: 200, maxDelayMs: 2_000, maxRestarts: 5, windowMs: 60_000 },
});
pool.on('restart', ({ taskName, replica, attempt, delayMs, error }) => {
  console.log(
    `  restart: ${taskName} replica ${replica} runs again (attempt ${attempt}) in ${Math.round(delayMs)} ms after: ${error.message}`,
  );
});

const batch = Array.from({ length: 400 }, (_, i) => new Fib(20 + (i % 8)));
await pool.run(new Fib(10));
const started = performance.now();
const results = await Promise.all(batch.map((task) => pool.run(task)));
const seconds = (performance.now() - started) / 1000;
console.log(
  `CPU batch: ${results.length} fib tasks on ${pool.size} workers in ${seconds.toFixed(2)} s = ${Math.round(results.length / seconds)} tasks/s`,
);

console.log('Supervising a task that fails twice, then succeeds:');
const service = pool.supervise(new Connect('db.internal:5432'));
await service.done;
console.log(`  done after ${service.restarts} restarts`);

const { runTime, waitTime } = pool.stats();
console.log(`run time p50 ${runTime.p50} ms, p99 ${runTime.p99} ms; wait time p50 ${waitTime.p50} ms`);
await pool.close();
