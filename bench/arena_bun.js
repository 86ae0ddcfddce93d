// Bun's side of bench/compare's arena cells and plaintext cells: the
// endpoints of bench/arena_server.cc on Bun.serve (uWebSockets inside).
//
//     $BUN bench/arena_bun.js DATA_JSON PORT
//
//     GET  /                       "Hello, World!"
//     GET  /baseline?a=1&b=2       a + b;  POST the same with an integer body: a + b + body
//     GET  /json                   DATA_JSON's object, JSON.stringify'd per request,
//                                  gzipped (Bun.gzipSync, level 6) for a client that accepts it
//     GET  /delay/15               "ok" after a 15 ms timer
//
// Numbers that are not integers are a 400, as in arena_server. It prints
// READY once listening.
const [dataPath, port] = process.argv.slice(2);
const documentObject = await Bun.file(dataPath).json();
const integer = /^-?[0-9]+$/;

function text(body, status = 200) {
  return new Response(body, { status, headers: { "Content-Type": "text/plain" } });
}

function sum(url, body) {
  const values = [url.searchParams.get("a"), url.searchParams.get("b")];
  if (body !== undefined) values.push(body);
  if (!values.every((v) => v !== null && integer.test(v))) return text("not an integer", 400);
  return text(String(values.reduce((total, v) => total + BigInt(v), 0n)));
}

Bun.serve({
  port: Number(port),
  hostname: "127.0.0.1",
  async fetch(request) {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === "/") return new Response("Hello, World!");
    if (path === "/baseline") {
      if (request.method === "POST") return sum(url, (await request.text()).trim());
      return sum(url);
    }
    if (path === "/json") {
      const body = JSON.stringify(documentObject);
      const headers = { "Content-Type": "application/json; charset=UTF-8" };
      if ((request.headers.get("accept-encoding") || "").includes("gzip")) {
        return new Response(Bun.gzipSync(body, { level: 6 }),
                            { headers: { ...headers, "Content-Encoding": "gzip", Vary: "Accept-Encoding" } });
      }
      return new Response(body, { headers });
    }
    const delay = /^\/delay\/([0-9]+)$/.exec(path);
    if (delay) {
      const ms = Number(delay[1]);
      if (ms > 10000) return text("the delay is over 10 s", 400);
      await Bun.sleep(ms);
      return text("ok");
    }
    return text("not found", 404);
  },
});
console.log("READY");
