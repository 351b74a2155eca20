import { fib } from './fib.mjs';

export default (n) => fib(n);
