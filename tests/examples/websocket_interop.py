#!/usr/bin/python3
"""examples/websocket's /echo against an independent client (Debian's
python3-websockets): text and binary messages of 0 B to 16 MiB, sent
whole and in fragments, each echoed unchanged with its opcode; pings
answered; the closing handshake with the code sent. Run twice: without
extensions, and offering permessage-deflate (the server must decline the
offer, not refuse the connection). Usage: websocket_interop.py URL."""
import asyncio
import os
import sys

import websockets

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20]


def payload(n, text):
    if text:
        # Multi-byte characters too; cut to n bytes on a character boundary.
        unit = "aé€😀" * (n // 10 + 1)
        s = unit.encode()[:n].decode("utf-8", "ignore")
        return s + "a" * (n - len(s.encode()))
    return os.urandom(n)


def chunks(msg, size):
    for i in range(0, max(len(msg), 1), size):
        yield msg[i:i + size]


async def run(url, compression):
    kw = {"max_size": None, "compression": compression, "open_timeout": 20,
          "ping_timeout": 60, "close_timeout": 20}
    async with websockets.connect(url, **kw) as ws:
        assert ws.response_headers.get("Sec-WebSocket-Extensions") is None, \
            "the server accepted an extension it does not speak"
        for n in SIZES:
            for text in (True, False):
                msg = payload(n, text)
                assert len(msg.encode() if text else msg) == n
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 60)
                assert type(got) is type(msg) and got == msg, f"whole {n} text={text}"
                # Fragmented: 4 KiB fragments (at most 64 of them).
                await ws.send(chunks(msg, max(4096, n // 64)))
                got = await asyncio.wait_for(ws.recv(), 60)
                assert type(got) is type(msg) and got == msg, f"fragments {n} text={text}"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        await ws.close(code=4000, reason="done")
        assert ws.close_code == 4000, ws.close_code
    print(f"interop ok (compression={compression})")


def main():
    url = sys.argv[1]
    asyncio.run(run(url, None))
    asyncio.run(run(url, "deflate"))


main()
