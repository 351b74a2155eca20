import amqp from '/work/wt-cluster/node_modules/amqplib/channel_api.js';
const c = await amqp.connect('amqp://guest:guest@127.0.0.1:5681');
c.on('error', ()=>{});
async function tryDeclare(name, args) {
  const ch = await c.createChannel(); ch.on('error', ()=>{});
  try { await ch.assertQueue(name, { durable: true, arguments: args }); console.log('ok', name, JSON.stringify(args)); }
  catch (e) { console.log('ERR', name, JSON.stringify(args), e.message); }
  try { await ch.close(); } catch {}
}
const q = 'exp.' + Date.now();
await tryDeclare(q+'a', { 'x-queue-type': 'quorum', 'x-queue-leader-locator': 'balanced' });
await tryDeclare(q+'b', { 'x-queue-type': 'quorum', 'x-queue-leader-locator': 'bogus' });
await tryDeclare(q+'c', { 'x-queue-type': 'quorum' });
await tryDeclare(q+'c', { 'x-queue-type': 'quorum', 'x-queue-leader-locator': 'balanced' });
await tryDeclare(q+'c', { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': 3 });
await tryDeclare(q+'a', { 'x-queue-type': 'quorum' });
await tryDeclare(q+'a', { 'x-queue-type': 'quorum', 'x-queue-leader-locator': 'client-local' });
await tryDeclare(q+'d', { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': 2 });
await tryDeclare(q+'d', { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': 3 });
await tryDeclare(q+'d', { 'x-queue-type': 'quorum'});
await c.close();
console.log(q);
