"""Tornado's side of bench/compare: the plaintext test on one process.

    /usr/bin/python3 bench/tornado_plaintext.py --port 8080

Answers every path with "Hello, World!" (text/plain), access log off, the
way a Tornado user would write it: an Application with one catch-all
RequestHandler on the default (asyncio) IOLoop.
"""
import argparse
import asyncio

import tornado.web


class PlaintextHandler(tornado.web.RequestHandler):
    def get(self, *args):
        self.set_header("Content-Type", "text/plain")
        self.write(b"Hello, World!")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    options = parser.parse_args()
    app = tornado.web.Application([(r"/(.*)", PlaintextHandler)], log_function=lambda handler: None)
    app.listen(options.port, options.address, backlog=4096)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
