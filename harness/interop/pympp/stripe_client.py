"""Pays one URL with pympp's ``stripe`` charge client (draft-stripe-charge-00).

pympp leaves the Shared Payment Token to a ``create_token`` callback, the
one step that needs Stripe's API and an account. This machine reaches no
Stripe, so the callback returns a placeholder token
``spt_mppconf_offline_<n>`` and says so on stderr: the run judges what
pympp itself builds (the credential, its payload, the externalId it
echoes), never a payment. For a live run, replace the callback with one
that calls your token endpoint.

Usage: python stripe_client.py URL
Environment:
  STRIPE_PAYMENT_METHOD  the payment method the token is for (default pm_card_visa)

stdout: `status <HTTP status of the final answer>`.
Exit status: 0 on a 2xx answer, 1 on any other answer, 2 on a usage or
payment error (printed on stderr).
"""

from __future__ import annotations

import asyncio
import os
import sys

from mpp.client import Mpp
from mpp.methods.stripe import client as stripe

minted = 0


async def placeholder_token(parameters: stripe.OnChallengeParameters) -> str:
    global minted
    minted += 1
    print(
        "stripe_client.py: a placeholder token, not a Stripe SPT (no Stripe account here)",
        file=sys.stderr,
    )
    return f"spt_mppconf_offline_{minted}"


async def main() -> int:
    if len(sys.argv) < 2 or not sys.argv[-1].startswith(("http://", "https://")):
        print("usage: python stripe_client.py URL", file=sys.stderr)
        return 2
    method = stripe.charge(
        create_token=placeholder_token,
        payment_method=os.environ.get("STRIPE_PAYMENT_METHOD") or "pm_card_visa",
    )
    try:
        async with Mpp(methods=[method]) as client:
            response = await client.fetch(sys.argv[-1])
    except Exception as error:  # noqa: BLE001 - any failure is the outcome
        print(f"stripe_client.py: payment failed: {error!r}", file=sys.stderr)
        return 2
    print(f"status {response.status_code}")
    return 0 if 200 <= response.status_code < 300 else 1


sys.exit(asyncio.run(main()))
