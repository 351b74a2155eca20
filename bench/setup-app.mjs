// The multitask app of the RSS-after-work benchmark (child.mjs rss-work): the benchmark's tasks,
// and a `setup` whose result every task gets as ctx.app, as a real app has.
import { defineApp } from 'multitask';
import { Fib, Inc } from './tasks.mjs';

export default defineApp({
  tasks: { Inc, Fib },
  setup: () => ({ startedAt: Date.now(), greeting: 'hello' }),
});
