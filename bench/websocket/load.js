// Load: CONNS WebSocket connections to URL, each sending a binary message
// of SIZE bytes and waiting for its echo, again and again for SECONDS.
// Prints "round_trips N rate R/s". Also: load.js idle URL CONNS holds CONNS
// open connections until stdin closes (for bytes per idle connection);
// load.js bcast URL CONNS ROUNDS times broadcasts to a room of CONNS.
'use strict';
const WebSocket = require('ws');
const [mode, url, a, b, c] = process.argv.slice(2);

function open(n) {
  return Promise.all(Array.from({ length: n }, () => new Promise((res, rej) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () => res(ws));
    ws.on('error', rej);
  })));
}

(async () => {
  if (mode === 'bcast') {
    // CONNS members of a room; ROUNDS times, the first sends a 32-byte
    // text and the round ends when every member (itself too) has it.
    const conns = Number(a), rounds = Number(b);
    const socks = await open(conns);
    const msg = 'x'.repeat(32);
    let got = 0, done = null;
    for (const ws of socks) ws.on('message', () => { if (++got === conns && done) done(); });
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) {
      got = 0;
      await new Promise((res) => { done = res; socks[0].send(msg); });
    }
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`broadcasts ${rounds} rate ${(rounds / dt).toFixed(1)} deliveries ${(rounds * conns / dt).toFixed(0)}`);
    process.exit(0);
  }
  if (mode === 'idle') {
    const socks = await open(Number(a));
    console.log(`open ${socks.length}`);
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
    return;
  }
  const conns = Number(a), size = Number(b), seconds = Number(c);
  const socks = await open(conns);
  const msg = Buffer.alloc(size, 7);
  let count = 0, running = true;
  for (const ws of socks) {
    ws.on('message', () => { count++; if (running) ws.send(msg); });
  }
  // Warm up half a second, then count.
  for (const ws of socks) ws.send(msg);
  await new Promise((r) => setTimeout(r, 500));
  count = 0;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const n = count;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  console.log(`round_trips ${n} rate ${(n / dt).toFixed(0)}`);
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
