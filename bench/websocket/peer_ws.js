// The peer: an echo server on node's ws (Debian node-ws), same contract as
// examples/websocket's /echo (same opcode back), and a /chat room like
// its /chat; no compression.
// Usage: node peer_ws.js PORT   (prints "listening PORT")
'use strict';
const WebSocket = require('ws');
const wss = new WebSocket.Server({ host: '127.0.0.1', port: Number(process.argv[2] || 0), perMessageDeflate: false, maxPayload: 16 << 20 });
// /chat: every message goes to every client connected to /chat.
const room = new Set();
wss.on('connection', (ws, req) => {
  if (req.url === '/chat') {
    room.add(ws);
    ws.on('close', () => room.delete(ws));
    ws.on('message', (data, isBinary) => { for (const m of room) m.send(data, { binary: isBinary }); });
    return;
  }
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log(`listening ${wss.address().port}`));
