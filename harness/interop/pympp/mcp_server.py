"""A pympp tempo/charge MCP server (draft-payment-transport-mcp-00): JSON-RPC
over HTTP POST /mcp on the standard library's http.server, paid tools gated
with pympp's framework-agnostic ``verify_or_challenge`` exactly as
``mpp.extensions.mcp`` documents it ("For any MCP server, use
verify_or_challenge() directly": the credential read from
``params["_meta"]``, errors from its exceptions' ``to_jsonrpc_error()``,
receipts from ``receipt.to_meta()``), and its capability from
``payment_capabilities``. pympp ships no MCP server of its own; this is the
smallest MCP endpoint around it (stateless, JSON answers).

Environment: RPC_URL, CHAIN_ID, PORT, RECIPIENT, SECRET, AMOUNT, CURRENCY,
REALM, as server.py takes them.

Tools: ``paid`` and ``paid-too`` (the same price: operation binding) and
``free-echo``. The first stdout line is `listening 127.0.0.1:PORT`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mpp.extensions.mcp import (
    MalformedCredentialError,
    PaymentRequiredError,
    PaymentVerificationError,
    payment_capabilities,
    verify_or_challenge,
)
from mpp.methods.tempo import server as tempo
from mpp.server import Mpp

PATH_USD = "0x20c0000000000000000000000000000000000000"
PAID_TOOLS = ("paid", "paid-too")
FREE_TOOL = "free-echo"


def log(message: str) -> None:
    print(f"mcp_server.py: {message}", file=sys.stderr, flush=True)


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if value == "":
        log(f"the environment variable {name} is required")
        sys.exit(2)
    return value


RPC_URL = required("RPC_URL")
CHAIN_ID = int(required("CHAIN_ID"))
PORT = int(os.environ.get("PORT") or "0")
RECIPIENT = required("RECIPIENT")
SECRET = required("SECRET")
AMOUNT = required("AMOUNT")
CURRENCY = os.environ.get("CURRENCY") or PATH_USD
REALM = os.environ.get("REALM") or "pympp.interop"

loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, name="asyncio", daemon=True).start()


async def _setup():
    mpp = Mpp(
        methods=tempo.charge(
            recipient=RECIPIENT,
            chain_id=CHAIN_ID,
            rpc_url=RPC_URL,
            currencies=[CURRENCY],
        ),
        realm=REALM,
        secret_key=SECRET,
    )
    return mpp, mpp.charge(amount=AMOUNT)


mpp, charge = asyncio.run_coroutine_threadsafe(_setup(), loop).result()


async def call_tool(params: dict) -> dict:
    """A tools/call: the result or the error member of the answer."""
    name = params.get("name")
    if name == FREE_TOOL:
        return {"result": {"content": [{"type": "text", "text": "free content"}]}}
    if name not in PAID_TOOLS:
        return {"error": {"code": -32602, "message": "Invalid params", "data": {"detail": f"no tool {name!r}"}}}
    try:
        result = await verify_or_challenge(charge, tool=name, meta=params.get("_meta"))
    except (MalformedCredentialError, PaymentVerificationError) as error:
        return {"error": error.to_jsonrpc_error()}
    if isinstance(result, list):
        return {"error": PaymentRequiredError(challenges=result).to_jsonrpc_error()}
    _credential, receipt = result
    return {
        "result": {
            "content": [{"type": "text", "text": f"paid content of {name}"}],
            "_meta": receipt.to_meta(),
        }
    }


async def answer(message: dict) -> dict:
    method = message.get("method")
    params = message.get("params") or {}
    if method == "initialize":
        return {
            "result": {
                "protocolVersion": params.get("protocolVersion") or "2025-06-18",
                "capabilities": {"tools": {}, "experimental": payment_capabilities(mpp)},
                "serverInfo": {"name": "pympp-interop", "version": "0.16.0"},
            }
        }
    if method == "ping":
        return {"result": {}}
    if method == "tools/list":
        tools = [{"name": t, "inputSchema": {"type": "object"}} for t in (*PAID_TOOLS, FREE_TOOL)]
        return {"result": {"tools": tools}}
    if method == "tools/call":
        return await call_tool(params)
    return {"error": {"code": -32601, "message": "Method not found"}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - http.server's name
        pass

    def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send(405, b"POST /mcp\n", "text/plain")

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or "0")
        body = self.rfile.read(length) if length > 0 else b""
        if self.path.split("?", 1)[0] != "/mcp":
            self.send(404, b"not found\n", "text/plain")
            return
        try:
            message = json.loads(body)
        except ValueError:
            error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
            self.send(200, json.dumps(error).encode())
            return
        if not isinstance(message, dict) or "id" not in message:
            # A notification: no answer, and nothing paid is processed.
            self.send(202, b"")
            return
        try:
            reply = asyncio.run_coroutine_threadsafe(answer(message), loop).result()
        except Exception as error:  # pympp raised instead of answering
            log(f"handler failed: {type(error).__name__}: {error}")
            reply = {"error": {"code": -32603, "message": f"Internal error: {type(error).__name__}"}}
        reply = {"jsonrpc": "2.0", "id": message.get("id"), **reply}
        self.send(200, json.dumps(reply).encode())
        elapsed = int((time.monotonic() - started) * 1000)
        log(f"{message.get('method')} -> {'error' if 'error' in reply else 'result'} in {elapsed} ms")


def main() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    httpd.daemon_threads = True
    print(f"listening 127.0.0.1:{httpd.server_address[1]}", flush=True)

    def stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
