#!/usr/bin/env python
"""A minimal local Web Push service for the notification benchmark: answers every POST with 201
(keep-alive HTTP/1.1, asyncio, its own process so that it never competes with the benchmark for
the GIL) and counts the messages and the distinct devices (the path's last segment).

    python scripts/bench/push_peer.py PORT    # prints "ready"; on SIGTERM prints "messages=N devices=M"
"""

from __future__ import annotations

import asyncio
import signal
import sys

messages = 0
devices: set[bytes] = set()
OK = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global messages
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.split(b"\r\n")
            length = 0
            for line in lines:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            messages += 1
            devices.add(request_line.split(b" ")[1].rsplit(b"/", 1)[-1])
            writer.write(OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=256)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    print(f"messages={messages} devices={len(devices)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
