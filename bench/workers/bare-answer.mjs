// The bare-Worker baseline for RSS after work: a module that answers each number it is sent
// with that number + 1, and says it has booted.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (x) => parentPort.postMessage(x + 1));
parentPort.postMessage('ready');
