"""Tornado's side of the WebSocket echo benchmark, on one process.

    /usr/bin/python3 bench/tornado_ws_echo.py PORT [--compression]
    /usr/bin/python3 bench/tornado_ws_echo.py --port PORT [--compression]

Needs Debian's Tornado (`apt-get install -y python3-tornado`, 6.2 on
bookworm). One WebSocketHandler at every path on the default (asyncio)
IOLoop sends each message back as received (text as text, binary as binary),
the way a Tornado user would write it. permessage-deflate is offered only
with --compression; messages may be up to 32 MiB. Prints READY once
listening; stops on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import signal

import tornado.web
import tornado.websocket

MAX_MESSAGE_SIZE = 32 * 1024 * 1024


class EchoHandler(tornado.websocket.WebSocketHandler):
    def initialize(self, compression):
        self.compression = compression

    def get_compression_options(self):
        return {} if self.compression else None

    async def on_message(self, message):
        await self.write_message(message, binary=isinstance(message, bytes))


def parse_args():
    parser = argparse.ArgumentParser(description="Tornado WebSocket echo server")
    parser.add_argument("port", type=int, nargs="?")
    parser.add_argument("--port", dest="port_option", type=int)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--compression", action="store_true", help="enable permessage-deflate")
    options = parser.parse_args()
    options.port = options.port_option or options.port
    if not options.port:
        parser.error("a port is required")
    return options


async def main():
    options = parse_args()
    app = tornado.web.Application(
        [(r"/.*", EchoHandler, {"compression": options.compression})],
        websocket_max_message_size=MAX_MESSAGE_SIZE,
        log_function=lambda handler: None,
    )
    app.listen(options.port, options.address, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("READY", flush=True)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
