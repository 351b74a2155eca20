// The queue conformance suite on RabbitMQ: skipped locally without a broker, required under CI.
import { openQueue } from '../src/index.js';
import { queueConformance } from './conformance/queue-conformance.js';
import { AMQP_TEST_URL, amqpSkipReason, deleteAmqpQueue, QUEUE_APP } from './queue-helpers.js';

queueConformance({
  name: 'amqp',
  skip: await amqpSkipReason(),
  open: (options) => openQueue(AMQP_TEST_URL, { app: QUEUE_APP, ...options }),
  cleanup: deleteAmqpQueue,
});
