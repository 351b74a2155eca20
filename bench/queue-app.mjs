// The multitask app the queue benchmark's workers boot from. No side effects: the main thread
// imports it too, for its registry of task names.
import { defineApp } from 'multitask';
import { CrashOnce, Fail, Noop, Sleep } from './queue-tasks.mjs';

export default defineApp({ tasks: { Noop, Sleep, CrashOnce, Fail } });
