// Plain JavaScript so that the thread's boot shim can import it before any loader is active.

/**
 * True when Node flags load tsx (`--import tsx`, `--import=tsx/esm`, tsx's own loader path).
 * @param {readonly string[]} execArgv
 * @returns {boolean}
 */
export function usesTsx(execArgv) {
  return execArgv.some((flag) => /(^|[\\/=])tsx([\\/]|$)/.test(flag));
}
