"""A pympp tempo/charge (or stripe/charge, or evm/charge) server on the
standard library's http.server, for interop tests against mppconf's
reference client and server suite.

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
             Or "evm": pympp's evm charge (draft-evm-charge-00, EIP-3009
             `authorization` credentials) on mppconf's local EVM chain:
             RPC_URL and CHAIN_ID as above, TOKEN (mppconf's EIP-3009 token:
             domain "MPP Test USD" version "2", 6 decimals) and PAYEE_KEY
             (the recipient's key). pympp verifies the authorization and
             leaves settlement to a `settle` hook; this program's is what a
             deployer writes: the recipient submits
             `transferWithAuthorization`, waits for the receipt and answers
             its hash, raising pympp's VerificationFailedError when the
             transfer does not settle.

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
elif METHOD == "evm":
    RPC_URL = required("RPC_URL")
    CHAIN_ID = int(required("CHAIN_ID"))
    TOKEN = required("TOKEN")
    PAYEE_KEY = required("PAYEE_KEY")
elif METHOD != "stripe":
    log(f"METHOD {METHOD!r}: tempo, evm or stripe")
    sys.exit(2)

loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, name="asyncio", daemon=True).start()


def _rpc(method: str, params: list) -> object:
    import json
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(RPC_URL, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        reply = json.load(answer)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


_SETTLE_LOCK = threading.Lock()


def _submit_authorization(payload: dict) -> str:
    """transferWithAuthorization from the payee, mined; its hash."""
    from eth_abi import encode
    from eth_account import Account
    from eth_utils.crypto import keccak

    payee = Account.from_key(PAYEE_KEY)
    signature = bytes.fromhex(payload["signature"][2:])
    v = signature[64] if signature[64] >= 27 else signature[64] + 27
    selector = keccak(
        text="transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
    )[:4]
    data = selector + encode(
        ["address", "address", "uint256", "uint256", "uint256", "bytes32", "uint8", "bytes32", "bytes32"],
        [
            payload["from"],
            payload["to"],
            int(payload["value"]),
            int(payload["validAfter"]),
            int(payload["validBefore"]),
            bytes.fromhex(payload["nonce"][2:]),
            v,
            signature[:32],
            signature[32:64],
        ],
    )
    with _SETTLE_LOCK:  # the payee's nonces
        nonce = int(_rpc("eth_getTransactionCount", [payee.address, "pending"]), 16)
        gas_price = int(_rpc("eth_gasPrice", []), 16)
        signed = payee.sign_transaction(
            {
                "type": 2,
                "chainId": CHAIN_ID,
                "nonce": nonce,
                "to": TOKEN,
                "value": 0,
                "data": "0x" + data.hex(),
                "gas": 200_000,
                "maxFeePerGas": gas_price * 2,
                "maxPriorityFeePerGas": gas_price,
            }
        )
        tx_hash = _rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        receipt = _rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt:
            if receipt["status"] != "0x1":
                raise RuntimeError("the transfer reverted")
            return tx_hash
        time.sleep(0.01)
    raise RuntimeError("no receipt within 10 s")


async def _settle_evm(authorization) -> str:
    from mpp.errors import VerificationFailedError

    try:
        return await asyncio.to_thread(_submit_authorization, authorization.payload)
    except Exception as error:
        # The chain's own words stay in the log (they can name the RPC URL).
        log(f"settlement failed: {error}")
        raise VerificationFailedError("the transfer did not settle on chain") from error


async def _setup():
    # Built on the loop so any client pympp creates belongs to it.
    if METHOD == "evm":
        from eth_account import Account
        from mpp.methods.evm import server as evm

        method = evm.charge(
            currency=TOKEN,
            recipient=Account.from_key(PAYEE_KEY).address,
            chain_id=CHAIN_ID,
            decimals=6,
            authorization={"name": "MPP Test USD", "version": "2"},
            settle=_settle_evm,
        )
    elif METHOD == "stripe":
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
