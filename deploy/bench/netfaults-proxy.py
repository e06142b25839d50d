#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that adds latency, for deploy/bench/netfaults.

The kernel here has no netem qdisc (`tc qdisc add ... netem` answers "Error: Specified qdisc
kind is unknown."), so latency between two processes is added in user space: every chunk read
from either side is written to the other DELAY/2 milliseconds after it arrived, in order (a
pipelined client keeps its pipeline; each request/answer round trip costs DELAY more).

    netfaults-proxy.py --listen PORT --target PORT --ready-file FILE

The delay starts at 0: SIGUSR1 turns DELAY on (--delay-ms, 200 by default), SIGUSR2 off again.
The ready file gets the listening port once it accepts connections. SIGTERM stops it.
"""

import argparse
import asyncio
import signal
import time


class State:
    delay_s = 0.0


async def pump(reader, writer, state):
    """Copy reader to writer, each chunk held until state.delay_s / 2 after it arrived."""
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.ensure_future(send())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await queue.put((time.monotonic() + state.delay_s / 2, data))
    except (ConnectionError, OSError):
        pass
    await queue.put((0, None))
    try:
        await sender
    except (ConnectionError, OSError):
        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, default=0)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--delay-ms", type=int, default=200)
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args()
    state = State()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: setattr(state, "delay_s", args.delay_ms / 1000))
    loop.add_signal_handler(signal.SIGUSR2, lambda: setattr(state, "delay_s", 0.0))
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", args.target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pump(client_reader, up_writer, state),
                             pump(up_reader, client_writer, state))

    server = await asyncio.start_server(handle, "127.0.0.1", args.listen)
    port = server.sockets[0].getsockname()[1]
    with open(args.ready_file, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    await stop
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
