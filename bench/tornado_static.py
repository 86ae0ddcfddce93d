"""Tornado's side of bench/compare's static cell: its StaticFileHandler.

    /usr/bin/python3 bench/tornado_static.py --root DIR --port 8080 [--cert F --key F]

Serves DIR at /static/ with tornado.web's own StaticFileHandler, access log
off, on the default (asyncio) IOLoop: what a Tornado application does
without nginx in front.
"""
import argparse
import asyncio
import ssl

import tornado.web


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    options = parser.parse_args()
    app = tornado.web.Application([(r"/static/(.*)", tornado.web.StaticFileHandler, {"path": options.root})],
                                  log_function=lambda handler: None)
    context = None
    if options.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(options.cert, options.key)
    app.listen(options.port, options.address, backlog=4096, ssl_options=context)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
