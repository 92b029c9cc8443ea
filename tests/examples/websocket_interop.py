#!/usr/bin/python3
"""examples/websocket's /echo against an independent client (Debian's
python3-websockets): text and binary messages of 0 B to 16 MiB, sent
whole and in fragments, each echoed unchanged with its opcode; pings
answered; the closing handshake with the code sent. Run three times:
without extensions; with permessage-deflate (negotiated: the server
inflates what it gets and compresses what it sends back); and with an
offer the server cannot honour (server_max_window_bits=8), which it must
decline, not refuse. Usage: websocket_interop.py URL [CA_FILE]: with a
wss:// URL, the server's certificate must be signed by CA_FILE."""
import asyncio
import os
import ssl
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

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


async def run(url, compression, want_ext, ca):
    kw = {"max_size": None, "open_timeout": 20, "ping_timeout": 60, "close_timeout": 20}
    if url.startswith("wss://"):
        kw["ssl"] = ssl.create_default_context(cafile=ca)
    if compression == "window8":
        kw["extensions"] = [ClientPerMessageDeflateFactory(server_max_window_bits=8)]
        kw["compression"] = None
    else:
        kw["compression"] = compression
    async with websockets.connect(url, **kw) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions")
        if want_ext:
            assert ext and ext.startswith("permessage-deflate"), f"not negotiated: {ext}"
        else:
            assert ext is None, f"an offer that should be declined was accepted: {ext}"
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
    print(f"interop ok ({url.split(':')[0]}, compression={compression})")


def main():
    url = sys.argv[1]
    ca = sys.argv[2] if len(sys.argv) > 2 else None
    asyncio.run(run(url, None, False, ca))
    asyncio.run(run(url, "deflate", True, ca))
    asyncio.run(run(url, "window8", False, ca))


main()
