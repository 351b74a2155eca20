// The bare-Worker baseline for RSS: no code of its own, it only stays alive (an empty file would
// exit at once) and says it has booted.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', () => {});
parentPort.postMessage('ready');
