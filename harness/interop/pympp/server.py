"""A pympp tempo/charge server on the standard library's http.server, for
interop tests against mppconf's reference client.

Environment:
  RPC_URL    JSON-RPC endpoint of the Tempo chain (mppconf's RPC proxy)
  CHAIN_ID   chain id to advertise and pay on (anvil: 31337)
  PORT       port on 127.0.0.1; 0 = any free port
  RECIPIENT  address paid by every charge
  SECRET     HMAC secret binding challenge ids
  AMOUNT     price as a decimal string in token units (6 decimals), e.g. 0.001
  CURRENCY   TIP-20 token, PathUSD by default
  REALM      realm, "pympp.interop" by default
  REQUIRES_AUTH  "1": pympp's ``requires_auth`` (its challenges select
             Payment-Authorization, draft-httpauth-payment-01)
  METHOD     "tempo" (the default) or "stripe": pympp's stripe charge
             (draft-stripe-charge-00) in Stripe test mode, which needs none
             of RPC_URL, CHAIN_ID, RECIPIENT and CURRENCY; AMOUNT is then
             in dollars. STRIPE_SECRET_KEY (a test key, inherited from
             mppconf's environment and never written anywhere; a placeholder
             Stripe refuses by default) and STRIPE_NETWORK_ID ("internal")
             configure it. Issuing challenges needs no call to Stripe;
             verifying a Shared Payment Token does.

One paid route: GET /paid. Anything else is 404.
The first stdout line is `listening 127.0.0.1:PORT`; logs go to stderr.

pympp is asynchronous: one asyncio loop runs in a background thread and each
HTTP request (one thread each) hands its payment work to that loop, so a slow
verification does not block other requests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mpp.methods.tempo import server as tempo
from mpp.server import Mpp, Request, Response

PATH_USD = "0x20c0000000000000000000000000000000000000"


def log(message: str) -> None:
    print(f"server.py: {message}", file=sys.stderr, flush=True)


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if value == "":
        log(f"the environment variable {name} is required")
        sys.exit(2)
    return value


METHOD = os.environ.get("METHOD") or "tempo"
PORT = int(os.environ.get("PORT") or "0")
SECRET = required("SECRET")
AMOUNT = required("AMOUNT")
REALM = os.environ.get("REALM") or "pympp.interop"
if METHOD == "tempo":
    RPC_URL = required("RPC_URL")
    CHAIN_ID = int(required("CHAIN_ID"))
    RECIPIENT = required("RECIPIENT")
    CURRENCY = os.environ.get("CURRENCY") or PATH_USD
elif METHOD != "stripe":
    log(f"METHOD {METHOD!r}: tempo or stripe")
    sys.exit(2)

loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, name="asyncio", daemon=True).start()


async def _setup():
    # Built on the loop so any client pympp creates belongs to it.
    if METHOD == "stripe":
        from mpp.methods.stripe import server as stripe

        method = stripe.charge(
            network_id=os.environ.get("STRIPE_NETWORK_ID") or "internal",
            secret_key=os.environ.get("STRIPE_SECRET_KEY") or "sk_test_mppconf_no_account",
            currency="usd",
        )
    else:
        method = tempo.charge(
            recipient=RECIPIENT,
            chain_id=CHAIN_ID,
            rpc_url=RPC_URL,
            currencies=[CURRENCY],
        )
    mpp = Mpp(
        methods=method,
        realm=REALM,
        secret_key=SECRET,
        requires_auth=os.environ.get("REQUIRES_AUTH") == "1",
    )
    return mpp.charge(amount=AMOUNT)


charge = asyncio.run_coroutine_threadsafe(_setup(), loop).result()


async def handle(request: Request) -> Response:
    result = await charge(request)
    if result.status != 200:
        return result.challenge
    return result.with_receipt(Response.json({"paid": True, "resource": "/paid"}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - http.server's name
        pass  # one line per request is logged below instead

    def send(self, status: int, headers, body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def serve(self) -> None:
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or "0")
        body = self.rfile.read(length) if length > 0 else None
        path = self.path.split("?", 1)[0]
        authorization = self.headers.get("Payment-Authorization") or self.headers.get(
            "Authorization"
        )
        if path != "/paid" or self.command != "GET":
            self.send(404, [("Content-Type", "text/plain")], b"not found\n")
            log(f"{self.command} {self.path} -> 404")
            return
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        request = Request(
            method=self.command,
            url=f"http://{host}{self.path}",
            headers=list(self.headers.items()),
            body=body,
        )
        try:
            response = asyncio.run_coroutine_threadsafe(handle(request), loop).result()
        except Exception as error:  # pympp raised instead of answering
            log(f"handler failed: {type(error).__name__}: {error}")
            self.send(
                500,
                [("Content-Type", "text/plain")],
                f"internal error: {type(error).__name__}: {error}\n".encode(),
            )
            return
        payload = response.body or b""
        self.send(response.status, response.headers.multi_items(), payload)
        elapsed = int((time.monotonic() - started) * 1000)
        log(
            f"{self.command} {self.path} -> {response.status} in {elapsed} ms"
            + (" (with credential)" if authorization else "")
        )
        if authorization and response.status != 200:
            log(f"credential: {authorization}")
            log(f"problem: {payload.decode('utf-8', 'replace')}")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = serve


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
