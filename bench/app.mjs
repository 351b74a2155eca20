// The multitask app every benchmark worker boots from.
import { defineApp } from 'multitask';
import { Fib, Inc } from './tasks.mjs';

export default defineApp({ tasks: { Inc, Fib } });
