// The app of the calls benchmark (calls.mjs): its one task returns its input plus one (the
// core benchmark's Inc), so that every round trip carries a result back. No side effects: the
// caller imports it for its registry.
import { defineApp } from 'multitask';
import { Inc } from './tasks.mjs';

export { Inc };

export default defineApp({ tasks: { Inc } });
