// Bun's side of the WebSocket echo benchmark: Bun.serve upgrades every
// request, at any path, and sends each message back as received (text as
// text, binary as binary). permessage-deflate is off unless --compression.
//
// Bun comes from npm as a prebuilt binary package (tested with Bun 1.4.5):
//
//     npm install -g --prefix /tmp/bunpfx @oven/bun-linux-x64
//     BUN=/tmp/bunpfx/lib/node_modules/@oven/bun-linux-x64/bin/bun
//
// (with a plain `npm install -g @oven/bun-linux-x64` the binary is at
// $(npm root -g)/@oven/bun-linux-x64/bin/bun). Run:
//
//     $BUN bench/ws_echo_bun.js PORT [--compression]
//     PORT=8080 $BUN bench/ws_echo_bun.js [--compression]
//
// It prints READY once listening and stops on SIGTERM/SIGINT.

const MiB = 1024 * 1024;

function parseArgs(argv) {
  const args = argv.slice(2);
  const compression = args.includes("--compression");
  const positional = args.filter((arg) => !arg.startsWith("--"));
  const port = Number(positional[0] ?? process.env.PORT);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error("usage: bun ws_echo_bun.js PORT [--compression]  (or PORT in the environment)");
    process.exit(2);
  }
  return { port, compression };
}

const { port, compression } = parseArgs(process.argv);

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req, srv) {
    if (srv.upgrade(req)) return undefined;
    return new Response("WebSocket upgrade required\n", { status: 426 });
  },
  websocket: {
    perMessageDeflate: compression,
    maxPayloadLength: 32 * MiB,
    // The default (16 MiB) would make send() drop a 16 MiB echo.
    backpressureLimit: 64 * MiB,
    idleTimeout: 0,
    sendPings: false,
    message(ws, message) {
      // A string goes back as a text frame, a Buffer as a binary frame. Bun
      // only compresses a message when send() is asked to.
      ws.send(message, compression);
    },
  },
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.stop(true);
    process.exit(0);
  });
}

console.log("READY");
