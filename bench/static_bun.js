// Bun's side of bench/compare's static cell: Bun.serve answering
// /static/<name> with Bun.file(ROOT/<name>) (Bun sends it with sendfile),
// 404 for anything else. Names are the bench's own files: no path checks.
//
//     $BUN bench/static_bun.js ROOT PORT [CERT KEY]
//
// It prints READY once listening.
const [root, port, cert, key] = process.argv.slice(2);
const options = {
  port: Number(port),
  hostname: "127.0.0.1",
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (!path.startsWith("/static/") || path.includes("..")) return new Response("not found", { status: 404 });
    const file = Bun.file(root + "/" + path.slice("/static/".length));
    if (!(await file.exists())) return new Response("not found", { status: 404 });
    return new Response(file);
  },
};
if (cert) options.tls = { cert: Bun.file(cert), key: Bun.file(key) };
Bun.serve(options);
console.log("READY");
