"""Pays one URL with pympp's ``evm`` charge client (draft-evm-charge-00).

Configured as a deployer configures it for mppconf's local EVM chain:
pympp's client signs EIP-3009 authorizations only, for one token on one
chain, so it is given the token (mppconf's MppTestToken: EIP-712 domain
"MPP Test USD", version "2", 6 decimals), the chain id and the budget.

Usage: python evm_client.py URL
Environment:
  CHAIN_ID    the chain this client pays on
  CURRENCY    the EIP-3009 token it pays in
  PAYER_KEY   0x-prefixed private key of the paying account
  MAX_AMOUNT  the most it pays, in base units
  METHOD      HTTP method (default GET)
  BODY        request body (default none)

stdout: `status <HTTP status of the final answer>`.
Exit status: 0 on a 2xx answer, 1 on any other answer, 2 on a usage or
payment error (printed on stderr).
"""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal

from eth_account import Account
from mpp.client import Mpp
from mpp.methods.evm import client as evm

DECIMALS = 6


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if value == "":
        print(f"evm_client.py: the environment variable {name} is required", file=sys.stderr)
        sys.exit(2)
    return value


async def main() -> int:
    if len(sys.argv) < 2 or not sys.argv[-1].startswith(("http://", "https://")):
        print("usage: python evm_client.py URL", file=sys.stderr)
        return 2
    url = sys.argv[-1]
    method = evm.charge(
        currency=required("CURRENCY"),
        account=Account.from_key(required("PAYER_KEY")),
        chain_id=int(required("CHAIN_ID")),
        decimals=DECIMALS,
        authorization={"name": "MPP Test USD", "version": "2"},
        # pympp's budget is in display units.
        max_amount=Decimal(int(required("MAX_AMOUNT"))) / (10**DECIMALS),
    )
    try:
        async with Mpp(methods=[method]) as client:
            body = os.environ.get("BODY") or None
            response = await client.fetch(
                url, method=os.environ.get("METHOD") or "GET", content=body
            )
    except Exception as error:  # noqa: BLE001 - any failure is the outcome
        print(f"evm_client.py: payment failed: {error!r}", file=sys.stderr)
        return 2
    print(f"status {response.status_code}")
    return 0 if 200 <= response.status_code < 300 else 1


sys.exit(asyncio.run(main()))
