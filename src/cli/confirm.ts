/**
 * Asking the operator before a command acts on everything (`failed retry|purge --all`). Only
 * on a terminal: a script or a CI job has no one to answer, and asked what it already said.
 */

import { createInterface } from 'node:readline';

/** True when someone at a terminal can read a question and answer it. */
export function interactive(): boolean {
  return process.stdin.isTTY === true && process.stdout.isTTY === true;
}

/**
 * Asks `question` followed by ` [y/N] ` on `output` (stderr by default, so stdout keeps only the
 * command's result), and resolves true only for "y" or "yes"; anything else, or input that ends
 * before an answer (Ctrl-D), is no.
 */
export function confirm(
  question: string,
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): Promise<boolean> {
  const lines = createInterface({ input, output, terminal: false });
  return new Promise<boolean>((resolve) => {
    lines.once('close', () => resolve(false));
    lines.question(`${question} [y/N] `, (answer) => {
      resolve(/^y(es)?$/i.test(answer.trim()));
      lines.close();
    });
  });
}
