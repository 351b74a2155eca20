/** The CPU-bound function every library runs in the speedup measurement. */
export function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
