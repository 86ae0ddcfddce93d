"""Tornado's side of bench/compare's arena cells, for context: the endpoints
of bench/arena_server.cc on one process, as a Tornado user writes them.

    /usr/bin/python3 bench/tornado_arena.py --port 8080 --data bench/arena_data.json

GET / (plaintext), GET|POST /baseline (a + b [+ body]), GET /json (the
data file's object, serialised per request by self.write(dict);
compress_response gzips it), GET /delay/<ms> (answers after a timer).
Access log off.
"""
import argparse
import asyncio
import json

import tornado.web


def integer(text, what):
    try:
        return int(text)
    except (TypeError, ValueError):
        raise tornado.web.HTTPError(400, f"{what} is not an integer")


class PlaintextHandler(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write(b"Hello, World!")


class BaselineHandler(tornado.web.RequestHandler):
    def query_sum(self):
        return integer(self.get_argument("a"), "a") + integer(self.get_argument("b"), "b")

    def answer(self, value):
        self.set_header("Content-Type", "text/plain")
        self.write(str(value))

    def get(self):
        self.answer(self.query_sum())

    def post(self):
        self.answer(self.query_sum() + integer(self.request.body.decode(errors="replace"), "the body"))


class JsonHandler(tornado.web.RequestHandler):
    def initialize(self, document):
        self.document = document

    def get(self):
        self.write(self.document)


class DelayHandler(tornado.web.RequestHandler):
    async def get(self, ms):
        ms = integer(ms, "the delay")
        if ms > 10000:
            raise tornado.web.HTTPError(400, "the delay is over 10 s")
        await asyncio.sleep(ms / 1000)
        self.set_header("Content-Type", "text/plain")
        self.write(b"ok")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--data", required=True)
    options = parser.parse_args()
    with open(options.data) as f:
        document = json.load(f)
    app = tornado.web.Application([
        (r"/", PlaintextHandler),
        (r"/baseline", BaselineHandler),
        (r"/json", JsonHandler, {"document": document}),
        (r"/delay/([0-9]+)", DelayHandler),
    ], compress_response=True, log_function=lambda handler: None)
    app.listen(options.port, options.address, backlog=4096)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
