import { appTaskNotAClass, taskClassNotRegistered, taskNameNotRegistered } from '../errors.js';
import type { Task, TaskClass } from './task.js';

/**
 * The app's task registry: name -> class and class -> name. The name is what crosses thread
 * and process boundaries, so both sides of a pool resolve a task the same way.
 */
export class TaskRegistry {
  readonly #byName = new Map<string, TaskClass>();
  readonly #byClass = new Map<Function, string>();

  constructor(tasks: Record<string, TaskClass>) {
    for (const [name, taskClass] of Object.entries(tasks)) {
      if (typeof taskClass !== 'function' || typeof taskClass.prototype?.run !== 'function') {
        throw appTaskNotAClass(name);
      }
      this.#byName.set(name, taskClass);
      // A class registered under two names keeps the first: names must be unambiguous on the way back.
      if (!this.#byClass.has(taskClass)) this.#byClass.set(taskClass, name);
    }
  }

  /** The registered name of a task instance, or `ERR_TASK_NOT_REGISTERED`. */
  nameOf(task: Task<unknown, unknown>): string {
    const name = typeof task === 'object' && task !== null ? this.#byClass.get(task.constructor) : undefined;
    if (name === undefined) {
      const className = (task as { constructor?: { name?: string } })?.constructor?.name ?? typeof task;
      throw taskClassNotRegistered(className, this.names());
    }
    return name;
  }

  /** The class registered under `name`, or `ERR_TASK_NOT_REGISTERED`. */
  classOf(name: string): TaskClass {
    const taskClass = this.#byName.get(name);
    if (taskClass === undefined) {
      throw taskNameNotRegistered(name, this.names());
    }
    return taskClass;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }
}
