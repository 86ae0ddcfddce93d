"""A Tornado HTTP server for the client interop test (httpclient_peers_test.sh).

    /usr/bin/python3 tornado_http_peer.py PORT

/echo (POST, PUT) answers "got N bytes: <first 32 bytes>", /chunked flushes
five pieces, /text is compressible (compress_response is on), /moved is a
301 to the relative "small", /small is "small", /header?name=N (GET or POST) echoes a
request header, /slow answers after two seconds.
"""
import asyncio
import sys

import tornado.web


class Echo(tornado.web.RequestHandler):
    def post(self):
        body = self.request.body
        self.write("got %d bytes" % len(body) + (": " + body[:32].decode("latin-1") if len(body) < 64 else ""))

    put = post


class Chunked(tornado.web.RequestHandler):
    async def get(self):
        for i in range(5):
            self.write("piece%d " % i)
            await self.flush()


class Text(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write("".join("line %d of a compressible text\n" % i for i in range(2000)))


class Moved(tornado.web.RequestHandler):
    def get(self):
        self.redirect("small", permanent=True)


class Small(tornado.web.RequestHandler):
    def get(self):
        self.write("small")


class Header(tornado.web.RequestHandler):
    def get(self):
        name = self.get_argument("name")
        self.write("%s=%s" % (name, self.request.headers.get(name, "")))

    post = get


class Slow(tornado.web.RequestHandler):
    async def get(self):
        await asyncio.sleep(2)
        self.write("slow")


async def main():
    app = tornado.web.Application(
        [("/echo", Echo), ("/chunked", Chunked), ("/text", Text), ("/moved", Moved), ("/small", Small),
         ("/header", Header), ("/slow", Slow)],
        compress_response=True)
    app.listen(int(sys.argv[1]), address="127.0.0.1", max_body_size=64 * 1024 * 1024)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
