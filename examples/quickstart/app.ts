import { defineApp } from '../../src/index.js';
import { Connect, Fib } from './tasks.js';

/** The entry point every worker boots from: the task registry, and what each worker sets up once. */
export default defineApp({
  tasks: { Fib, Connect },
  setup: () => ({ service: 'quickstart' }),
});
