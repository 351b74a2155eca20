/** Kept for the modules that import it from here; the rules live in field-codec.ts. */
export { jsonFields } from './field-codec.js';
