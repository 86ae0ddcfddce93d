"""bench/tornado_client_bench.py: Tornado's AsyncHTTPClient (the simple
client: a new connection per request), the context peer in the client cell.

    /usr/bin/python3 tornado_client_bench.py URL [CONCURRENCY] [SECONDS]

Prints the same JSON object as bench/client_bench.
"""
import asyncio
import json
import resource
import sys
import time

from tornado.httpclient import AsyncHTTPClient


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main():
    url = sys.argv[1]
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5
    client = AsyncHTTPClient(max_clients=concurrency)
    state = {"measuring": False, "done": False, "requests": 0, "errors": 0}

    async def loop():
        while not state["done"]:
            try:
                response = await client.fetch(url, raise_error=False)
                ok = response.code == 200
            except Exception:
                ok = False
            if state["measuring"]:
                state["requests" if ok else "errors"] += 1

    tasks = [asyncio.ensure_future(loop()) for _ in range(concurrency)]
    await asyncio.sleep(1)
    state["measuring"] = True
    start, cpu_start = time.monotonic(), cpu_seconds()
    await asyncio.sleep(seconds)
    state["measuring"] = False
    wall, cpu = time.monotonic() - start, cpu_seconds() - cpu_start
    state["done"] = True
    print(json.dumps({"requests": state["requests"], "seconds": round(wall, 3), "cpu": round(cpu, 3),
                      "errors": state["errors"], "connections": 0}), flush=True)
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
