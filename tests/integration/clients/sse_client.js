// A real Server-Sent Events client (Debian's node-eventsource, W3C
// EventSource) for test_stream_sse: it connects to the URL given, records
// every event it dispatches as one JSON line, follows the server's retry
// delay and Last-Event-ID on reconnection, and exits after the "bye" event.
'use strict';
const EventSource = require('eventsource');

const url = process.argv[2];
const es = new EventSource(url);
const seen = [];
const record = (type) => (e) => {
  seen.push({type, data: e.data, id: e.lastEventId});
};
es.onmessage = record('message');
es.addEventListener('greet', record('greet'));
es.addEventListener('resume', record('resume'));
es.addEventListener('bye', (e) => {
  record('bye')(e);
  for (const s of seen) console.log(JSON.stringify(s));
  es.close();
  process.exit(0);
});
setTimeout(() => {
  for (const s of seen) console.log(JSON.stringify(s));
  console.log('TIMEOUT');
  process.exit(2);
}, 8000);
