"""Pays one URL with pympp's tempo/charge client, for mppconf's client suite.

Usage: python client.py URL
Environment:
  RPC_URL    JSON-RPC endpoint of the Tempo chain
  CHAIN_ID   the chain this client pays on (anvil: 31337)
  PAYER_KEY  0x-prefixed private key of the paying account
  METHOD     HTTP method (default GET)
  BODY       request body (default none)

stdout: `status <HTTP status of the final answer>`.
Exit status: 0 on a 2xx answer, 1 on any other answer, 2 on a usage or
payment error (printed on stderr).
"""

from __future__ import annotations

import asyncio
import os
import sys

from mpp.client import Mpp
from mpp.methods.tempo import TempoAccount
from mpp.methods.tempo import client as tempo


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if value == "":
        print(f"client.py: the environment variable {name} is required", file=sys.stderr)
        sys.exit(2)
    return value


async def main() -> int:
    if len(sys.argv) < 2 or not sys.argv[-1].startswith(("http://", "https://")):
        print("usage: python client.py URL", file=sys.stderr)
        return 2
    url = sys.argv[-1]
    method = tempo.charge(
        account=TempoAccount.from_key(required("PAYER_KEY")),
        chain_id=int(required("CHAIN_ID")),
        rpc_url=required("RPC_URL"),
    )
    try:
        async with Mpp(methods=[method]) as client:
            body = os.environ.get("BODY") or None
            response = await client.fetch(
                url, method=os.environ.get("METHOD") or "GET", content=body
            )
    except Exception as error:  # noqa: BLE001 - any failure is the outcome
        print(f"client.py: payment failed: {error!r}", file=sys.stderr)
        return 2
    print(f"status {response.status_code}")
    return 0 if 200 <= response.status_code < 300 else 1


sys.exit(asyncio.run(main()))
