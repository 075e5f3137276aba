// Benchmarks/node-ws/server.js — the anchor for the WebSocket benchmark (Benchmarks/websocket.sh): a chat
// relay on Node.js and the `ws` package, written the way ws' README shows a broadcast server ("Server
// broadcast": every message to every other open client), plus the welcome line the load generator waits
// for. Debian's node-ws: `node Benchmarks/node-ws/server.js PORT`. No history, no limits: a lower bound on
// what a browser chat on Node + ws costs.
'use strict';

const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 8080);
const wss = new WebSocketServer({ host: '127.0.0.1', port });

wss.on('connection', function connection(ws) {
  ws.on('error', console.error);

  ws.on('message', function message(data, isBinary) {
    wss.clients.forEach(function each(client) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    });
  });

  ws.send('* welcome');
});
