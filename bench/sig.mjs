import net from 'node:net';
import tls from 'node:tls';
const srv = net.createServer(() => {}).listen(0, '127.0.0.1', () => {
  const port = srv.address().port;
  const ac = new AbortController();
  const s = net.connect({ host: '127.0.0.1', port, signal: ac.signal }, () => console.log('net connected'));
  s.on('error', (e) => console.log('net error', e.name));
  s.on('close', () => console.log('net closed'));
  const ac2 = new AbortController();
  const t = tls.connect({ host: '127.0.0.1', port, signal: ac2.signal, rejectUnauthorized: false });
  t.on('error', (e) => console.log('tls error', e.name, e.code));
  t.on('close', () => { console.log('tls closed'); srv.close(); });
  setTimeout(() => { ac.abort(); ac2.abort(); }, 200);
});
