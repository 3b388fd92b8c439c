"""A fake OpenAI-compatible model that streams, run as a separate process.

``python bench/fake_llm.py --chunks N --interval S`` serves ``POST /v1/chat/completions`` on a
free loopback port, prints ``PORT <n>`` and serves until terminated. A streamed answer is
``N`` content chunks ``S`` seconds apart in the exact OpenAI SSE chunk format (then the finish
chunk, a usage chunk when asked, and ``[DONE]``); a plain request gets the whole answer at
once. It runs in its own process so that its work does not share the measured process's GIL.
It imports nothing of ``bench`` or ``hermes``: it is started by file path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Final, Self

from aiohttp import web

BACKLOG: Final = 4096
"""A thousand clients connect at once; the default backlog (128) would drop most SYNs."""
START_TIMEOUT: Final = 30.0


def _chunk(choices: list[dict[str, object]], **extra: object) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "bench-model",
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class FakeModel:
    """The request handler: ``chunks`` pieces, ``interval`` seconds apart."""

    def __init__(self, chunks: int, interval: float) -> None:
        self.chunks = chunks
        self.interval = interval

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            return web.json_response(self._whole())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        await response.write(_chunk([first]))
        for index in range(self.chunks):
            await asyncio.sleep(self.interval)
            piece = {"index": 0, "delta": {"content": f"tok{index} "}, "finish_reason": None}
            await response.write(_chunk([piece]))
        await response.write(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 10, "completion_tokens": self.chunks, "total_tokens": 0}
            await response.write(_chunk([], usage=usage))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _whole(self) -> dict[str, object]:
        text = "".join(f"tok{index} " for index in range(self.chunks))
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "bench-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": self.chunks, "total_tokens": 0},
        }


async def serve(chunks: int, interval: float) -> None:
    """Serve until cancelled; print the port once listening."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", FakeModel(chunks, interval).completions)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=BACKLOG)
    await site.start()
    port = runner.addresses[0][1]
    print(f"PORT {port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


class FakeModelProcess:
    """Runs this file as a child process; ``base_url`` once started; terminated on exit."""

    def __init__(self, chunks: int, interval: float) -> None:
        self._args = ["--chunks", str(chunks), "--interval", str(interval)]
        self._process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> Self:
        command = [sys.executable, str(Path(__file__).resolve()), *self._args]
        self._process = subprocess.Popen(  # noqa: S603  (our own file, fixed arguments)
            command, stdout=subprocess.PIPE, text=True
        )
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line.startswith("PORT "):
            self.__exit__()
            raise RuntimeError(f"the fake model did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}/v1"
        return self

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    asyncio.run(serve(args.chunks, args.interval))


if __name__ == "__main__":
    main()
