#!/usr/bin/env python3
"""An mppconf payer for the `stub` method (the payer ABI: harness/README.md).

mppconf writes one JSON request per line on stdin:
  {"schema": 1, "op": "pay", "challenge": {...decoded...},
   "header": "Payment id=...", "resource": {"method": "GET", "url": "..."}}
and reads one JSON line per request: the credential payload it pays with
(mppconf builds the credential around it), or a typed error.
"""
import json
import sys

for line in sys.stdin:
    challenge = json.loads(line)["challenge"]
    if challenge["method"] != "stub":
        answer = {"ok": False, "error": {
            "type": "unsupported_method",
            "message": f"this payer pays stub, not {challenge['method']}"}}
    else:
        # A real payer pays here: calls its rail's test API, or signs a
        # transfer of challenge["request"]["amount"] to its recipient.
        answer = {"ok": True, "value": {
            "id": challenge["id"],           # the challenge it paid
            "payload": {"token": "stub"},    # the credential's payload
            # "source": "did:...",           # optional: who paid
        }}
    print(json.dumps(answer), flush=True)
