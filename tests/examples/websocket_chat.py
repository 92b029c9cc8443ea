#!/usr/bin/python3
"""The second client of the chat test (tests/examples/websocket.sh): joins
ws://.../chat, prints "joined", waits for the browser's message, answers
it, and prints what it received. Usage: websocket_chat.py URL WANT REPLY."""
import asyncio
import sys

import websockets


async def main(url, want, reply):
    async with websockets.connect(url, open_timeout=20) as ws:
        print("joined", flush=True)
        while True:
            got = await asyncio.wait_for(ws.recv(), 60)
            if got == want:
                break
        await ws.send(reply)
        # Our own message comes back through the room too.
        while await asyncio.wait_for(ws.recv(), 20) != reply:
            pass
        print(f"got {got}", flush=True)


asyncio.run(main(*sys.argv[1:4]))
