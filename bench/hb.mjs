import amqp from '/work/wt-cluster/node_modules/amqplib/channel_api.js';
const c = await amqp.connect('amqp://guest:guest@127.0.0.1:5681?heartbeat=2');
const sock = c.connection.stream;
console.log('negotiated', c.connection.heartbeat);
let last = sock.bytesRead, t0 = Date.now();
const iv = setInterval(() => { if (sock.bytesRead !== last) { console.log('read at', Date.now()-t0, sock.bytesRead-last); last = sock.bytesRead; } }, 50);
setTimeout(async () => { clearInterval(iv); await c.close(); }, 6000);
