// Node's side of the WebSocket echo benchmark: a `ws` WebSocketServer that
// accepts upgrades at any path and sends each message back as received (text
// as text, binary as binary). permessage-deflate is off unless --compression.
//
// `ws` comes from npm into a directory of its own (tested with ws 8.23.0 on
// Node 20):
//
//     mkdir -p /tmp/wsnode && npm install --prefix /tmp/wsnode ws
//     NODE_PATH=/tmp/wsnode/node_modules node bench/ws_echo_node.js PORT [--compression]
//
// PORT may also come from the environment. It prints READY once listening and
// stops on SIGTERM/SIGINT.
"use strict";

const { WebSocketServer } = require("ws");

const MiB = 1024 * 1024;

function parseArgs(argv) {
  const args = argv.slice(2);
  const compression = args.includes("--compression");
  const positional = args.filter((arg) => !arg.startsWith("--"));
  const port = Number(positional[0] ?? process.env.PORT);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error("usage: node ws_echo_node.js PORT [--compression]  (or PORT in the environment)");
    process.exit(2);
  }
  return { port, compression };
}

const { port, compression } = parseArgs(process.argv);

const server = new WebSocketServer({
  host: "127.0.0.1",
  port,
  // `true` takes ws's defaults: messages under 1 KiB are sent uncompressed.
  perMessageDeflate: compression,
  maxPayload: 32 * MiB,
});

server.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    // `data` is a Buffer either way; the flag keeps the frame type.
    ws.send(data, { binary: isBinary });
  });
  ws.on("error", () => ws.terminate());
});

server.on("listening", () => console.log("READY"));

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
