// examples/websocket's /echo against node's `ws` (Debian's node-ws):
// text and binary messages of 0 B to 16 MiB, whole and in 4 KiB fragments
// (fin: false), each echoed unchanged with its opcode; a ping answered;
// the close code returned. Run without and with permessage-deflate (then
// the server must have accepted it). Usage: node websocket_interop.js URL
// [CA_FILE]: with a wss:// URL, the server's certificate must be signed by
// CA_FILE.
'use strict';
const WebSocket = require('ws');
const crypto = require('crypto');
const fs = require('fs');

const url = process.argv[2];
const ca = process.argv[3] ? fs.readFileSync(process.argv[3]) : undefined;
const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20];

function payload(n, text) {
  if (!text) return crypto.randomBytes(n);
  const unit = Buffer.from('aé€😀');
  const b = Buffer.alloc(n, 'a');
  // Whole characters only, then ASCII to the end.
  let i = 0;
  while (i + unit.length <= n - 8) { unit.copy(b, i); i += unit.length; }
  return b;
}

function run(deflate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: deflate, maxPayload: 32 << 20, ca });
    const queue = [];
    let waiting = null;
    ws.on('message', (data, isBinary) => {
      if (waiting) { const w = waiting; waiting = null; w({ data, isBinary }); } else queue.push({ data, isBinary });
    });
    const next = () => new Promise((res) => { if (queue.length) res(queue.shift()); else waiting = res; });
    ws.on('error', reject);
    ws.on('open', async () => {
      try {
        const ext = ws.extensions || '';
        if (deflate !== ext.includes('permessage-deflate')) throw new Error(`extensions: '${ext}'`);
        for (const n of SIZES) {
          for (const text of [true, false]) {
            const msg = payload(n, text);
            ws.send(msg, { binary: !text });
            let got = await next();
            if (got.isBinary === text || !Buffer.from(got.data).equals(msg)) throw new Error(`whole ${n} text=${text}`);
            const step = Math.max(4096, Math.ceil(n / 64));
            if (n === 0) ws.send(msg, { binary: !text, fin: true });
            for (let i = 0; i < n; i += step) {
              ws.send(msg.subarray(i, Math.min(n, i + step)), { binary: !text, fin: i + step >= n });
            }
            got = await next();
            if (got.isBinary === text || !Buffer.from(got.data).equals(msg)) throw new Error(`fragments ${n} text=${text}`);
          }
        }
        await new Promise((res, rej) => { ws.once('pong', res); ws.ping('hi'); setTimeout(() => rej(new Error('no pong')), 10000); });
        ws.on('close', (code) => { if (code === 4001) resolve(); else reject(new Error(`close ${code}`)); });
        ws.close(4001, 'done');
      } catch (e) { reject(e); }
    });
  });
}

(async () => {
  await run(false);
  console.log(`node ws interop ok (${url.split(':')[0]}, perMessageDeflate=false)`);
  await run(true);
  console.log(`node ws interop ok (${url.split(':')[0]}, perMessageDeflate=true)`);
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
