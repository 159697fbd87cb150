"""mppconf adapter for the pympp SDK (PyPI `pympp`, import name `mpp`).

Persistent mode: one JSON request per line on stdin,
`{"schema":1,"op":OP,"input":...}`, one JSON response per line on stdout, in
order: `{"ok":true,"value":...}` or
`{"ok":false,"error":{"type":T,"message":M}}`. Nothing else is written to
stdout; diagnostics go to stderr.

Every answer comes from pympp's own functions. The adapter only converts
shapes between pympp's objects and the ABI's objects (see vectors/README.md,
"Operations (the adapter ABI)"):

- challenge.parse / challenges.parse: pympp's client splits a
  WWW-Authenticate field value into Payment challenges with
  `mpp.client.transport._payment_challenges` and parses each with
  `Challenge.from_www_authenticate`; the adapter does the same. (The public
  `parse_www_authenticate` alone only reads a value that starts with
  "Payment ".)
- credential.parse: `parse_authorization` keeps the echoed `request` as its
  base64url text; the ABI wants it decoded, so the adapter decodes it the
  way pympp's server does (`_b64_decode(echo.request) if echo.request else
  {}`, from `mpp.server.verify._authenticate_echo`).
- challenge.format / credential.format: ABI objects become `Challenge` /
  `ChallengeEcho` + `Credential` (request encoded with pympp's
  `canonical_b64url`, as `Challenge.create` does) and go through
  `format_www_authenticate` / `format_authorization`.
- receipt.parse / receipt.format: `Receipt` <-> the flat JSON object, member
  names as `format_payment_receipt` writes them; the timestamp is rendered
  as pympp renders it (`isoformat()`, `+00:00` -> `Z`) and read with
  pympp's `_parse_timestamp`.
- base64url.encode: `mpp._b64url_encode`.
- challenge.id: `generate_challenge_id`; an `opaque` given as base64url
  text is decoded with `_b64_decode`, as pympp's server decodes an echoed
  opaque.
- evm.challenge_hash: `mpp.methods.evm._eip3009.challenge_hash`, the
  EIP-3009 nonce pympp's EVM client signs and its server expects.

Not offered (pympp has no function for them): base64url.decode (pympp only
decodes base64url inside `_b64_decode`, straight into a JSON object),
accept_payment.* (pympp only writes Accept-Payment), jcs.canonicalize,
content_digest.* (pympp's `BodyDigest` uses `sha-256=<base64>`, not the
RFC 9530 form), problem.parse, request.validate, payload.validate, lightning.preimage.verify, evm.permit2.*, evm.authorization.digest (pympp signs with eth-account's typed data, no function of its own), session.*, tempo.credential.validate.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

# pympp or its dependencies must never write to the protocol stream.
_PROTOCOL_OUT = sys.stdout
sys.stdout = sys.stderr

from mpp import (  # noqa: E402
    Challenge,
    ChallengeEcho,
    Credential,
    Receipt,
    _b64url_encode,
    generate_challenge_id,
)
from mpp._canonical import canonical_b64url  # noqa: E402
from mpp._parsing import (  # noqa: E402
    ParseError,
    _b64_decode,
    _parse_timestamp,
    format_authorization,
    format_payment_receipt,
    format_www_authenticate,
    parse_authorization,
    parse_payment_receipt,
)
from mpp.client.transport import _payment_challenges  # noqa: E402


def log(message: str) -> None:
    print(f"pympp adapter: {message}", file=sys.stderr, flush=True)


# --- shape conversions -------------------------------------------------------


def _need(obj: Any, key: str) -> Any:
    if not isinstance(obj, dict):
        raise TypeError("input must be a JSON object")
    if key not in obj:
        raise KeyError(f"input lacks {key!r}")
    return obj[key]


def challenge_to_abi(challenge: Challenge) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": challenge.id,
        "realm": challenge.realm,
        "method": challenge.method,
        "intent": challenge.intent,
        "request": challenge.request,
    }
    # `header` is draft-httpauth-payment-01's; pympp keeps it.
    for key in ("expires", "digest", "description", "header"):
        member = getattr(challenge, key)
        if member is not None:
            value[key] = member
    if challenge.opaque is not None:
        # pympp keeps opaque decoded; the ABI carries its base64url text.
        value["opaque"] = canonical_b64url(challenge.opaque)
    return value


def _opaque_object(opaque: Any) -> Any:
    """ABI opaque (base64url text or the flat object) -> pympp's dict."""
    if isinstance(opaque, str):
        return _b64_decode(opaque)
    return opaque


def _opaque_text(opaque: Any) -> Any:
    """ABI opaque (base64url text or the flat object) -> echo text."""
    if opaque is None or isinstance(opaque, str):
        return opaque
    return canonical_b64url(opaque)


def credential_to_abi(credential: Credential) -> dict[str, Any]:
    echo = credential.challenge
    # As pympp's server reads an echo (server/verify.py, _authenticate_echo).
    request = _b64_decode(echo.request) if echo.request else {}
    challenge: dict[str, Any] = {
        "id": echo.id,
        "realm": echo.realm,
        "method": echo.method,
        "intent": echo.intent,
        "request": request,
    }
    for key in ("expires", "digest", "description", "opaque", "header"):
        member = getattr(echo, key)
        if member is not None:
            challenge[key] = member
    return {
        "challenge": challenge,
        "payload": credential.payload,
        "source": credential.source,
    }


def _timestamp_text(receipt: Receipt) -> str:
    # Exactly as format_payment_receipt renders it.
    return receipt.timestamp.isoformat().replace("+00:00", "Z")


def receipt_to_abi(receipt: Receipt) -> dict[str, Any]:
    # Member names as format_payment_receipt writes them.
    value: dict[str, Any] = {
        "status": receipt.status,
        "timestamp": _timestamp_text(receipt),
        "reference": receipt.reference,
        "method": receipt.method,
    }
    if receipt.external_id is not None:
        value["externalId"] = receipt.external_id
    if receipt.subscription_id is not None:
        value["subscriptionId"] = receipt.subscription_id
    if receipt.funding_currency is not None:
        value["fundingCurrency"] = receipt.funding_currency
    if receipt.extra is not None:
        value["extra"] = receipt.extra
    for key, member in (receipt.extensions or {}).items():
        value.setdefault(key, member)
    return value


_RECEIPT_MEMBERS = {
    "status": "status",
    "reference": "reference",
    "method": "method",
    "externalId": "external_id",
    "subscriptionId": "subscription_id",
    "fundingCurrency": "funding_currency",
    "extra": "extra",
}


def receipt_from_abi(obj: Any) -> Receipt:
    if not isinstance(obj, dict):
        raise TypeError("input must be a JSON object")
    timestamp = _need(obj, "timestamp")
    if not isinstance(timestamp, str):
        raise TypeError("timestamp must be a string to become a datetime")
    kwargs: dict[str, Any] = {"timestamp": _parse_timestamp(timestamp)}
    extensions: dict[str, Any] = {}
    for key, member in obj.items():
        if key == "timestamp":
            continue
        if key in _RECEIPT_MEMBERS:
            kwargs[_RECEIPT_MEMBERS[key]] = member
        else:
            extensions[key] = member
    _need(obj, "status")
    _need(obj, "reference")
    if extensions:
        kwargs["extensions"] = extensions
    return Receipt(**kwargs)


# --- operations --------------------------------------------------------------


def _first_payment_challenge(header: Any) -> str:
    if not isinstance(header, str):
        raise TypeError("header must be a string")
    found = _payment_challenges(header)
    if not found:
        raise ParseError("no Payment challenge in the field value")
    return found[0]


def op_challenge_parse(inp: Any) -> Any:
    field = _first_payment_challenge(_need(inp, "header"))
    return challenge_to_abi(Challenge.from_www_authenticate(field))


# pympp's ParseError messages -> mppconf error codes, for the per-challenge
# `{"error": code}` items of challenges.parse. Only messages that name one
# cause are mapped; others are passed on as "pympp: <message>".
_CODE_BY_MESSAGE_PREFIX = [
    ("Missing '", "missing-param"),
    ("Duplicate parameter", "duplicate-param"),
    ("Invalid payment method id", "invalid-method"),
    ("Expected JSON object", "not-an-object"),
    ("Expected 'Payment' authentication scheme", "not-payment-scheme"),
]


def _error_code(error: Exception) -> str:
    message = str(error)
    for prefix, code in _CODE_BY_MESSAGE_PREFIX:
        if message.startswith(prefix):
            return code
    return f"pympp: {message}"


def op_challenges_parse(inp: Any) -> Any:
    headers = _need(inp, "headers")
    if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
        raise TypeError("headers must be an array of strings")
    items: list[Any] = []
    for header in headers:
        for field in _payment_challenges(header):
            try:
                items.append(challenge_to_abi(Challenge.from_www_authenticate(field)))
            except ParseError as error:
                items.append({"error": _error_code(error)})
    return {"challenges": items}


def op_challenge_format(inp: Any) -> Any:
    realm = _need(inp, "realm")
    request = _need(inp, "request")
    opaque = inp.get("opaque")
    challenge = Challenge(
        id=_need(inp, "id"),
        method=_need(inp, "method"),
        intent=_need(inp, "intent"),
        request=request,
        realm=realm,
        request_b64=canonical_b64url(request),
        digest=inp.get("digest"),
        expires=inp.get("expires"),
        description=inp.get("description"),
        opaque=_opaque_object(opaque) if opaque is not None else None,
        header=inp.get("header"),
    )
    return {"header": format_www_authenticate(challenge, realm)}


def op_credential_parse(inp: Any) -> Any:
    header = _need(inp, "header")
    if not isinstance(header, str):
        raise TypeError("header must be a string")
    return credential_to_abi(parse_authorization(header))


def op_credential_format(inp: Any) -> Any:
    ch = _need(inp, "challenge")
    echo = ChallengeEcho(
        id=_need(ch, "id"),
        realm=_need(ch, "realm"),
        method=_need(ch, "method"),
        intent=_need(ch, "intent"),
        request=canonical_b64url(_need(ch, "request")),
        expires=ch.get("expires"),
        digest=ch.get("digest"),
        opaque=_opaque_text(ch.get("opaque")),
        description=ch.get("description"),
        header=ch.get("header"),
    )
    credential = Credential(
        challenge=echo,
        payload=_need(inp, "payload"),
        source=inp.get("source"),
    )
    return {"header": format_authorization(credential)}


def op_receipt_parse(inp: Any) -> Any:
    header = _need(inp, "header")
    if not isinstance(header, str):
        raise TypeError("header must be a string")
    return receipt_to_abi(parse_payment_receipt(header))


def op_receipt_format(inp: Any) -> Any:
    return {"header": format_payment_receipt(receipt_from_abi(inp))}


def op_base64url_encode(inp: Any) -> Any:
    text = _need(inp, "text")
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    return {"text": _b64url_encode(text)}


def op_challenge_id(inp: Any) -> Any:
    if not isinstance(inp, dict):
        raise TypeError("input must be a JSON object")
    secret = inp.get("secretKey", inp.get("secret"))
    if secret is None:
        raise KeyError("input lacks 'secret' or 'secretKey'")
    opaque = inp.get("opaque")
    challenge_id = generate_challenge_id(
        secret_key=secret,
        realm=_need(inp, "realm"),
        method=_need(inp, "method"),
        intent=_need(inp, "intent"),
        request=_need(inp, "request"),
        expires=inp.get("expires"),
        digest=inp.get("digest"),
        opaque=_opaque_object(opaque) if opaque is not None else None,
        header=inp.get("header"),
    )
    return {"id": challenge_id}


def op_evm_challenge_hash(inp: Any) -> Any:
    from mpp.methods.evm._eip3009 import challenge_hash

    return {"challengeHash": challenge_hash(_need(inp, "id"), _need(inp, "realm"))}


# op -> (handler, error type for any failure inside it)
OPS = {
    "challenge.parse": (op_challenge_parse, "parse_error"),
    "challenges.parse": (op_challenges_parse, "parse_error"),
    "challenge.format": (op_challenge_format, "format_error"),
    "credential.parse": (op_credential_parse, "parse_error"),
    "credential.format": (op_credential_format, "format_error"),
    "receipt.parse": (op_receipt_parse, "parse_error"),
    "receipt.format": (op_receipt_format, "format_error"),
    "base64url.encode": (op_base64url_encode, "encoding_error"),
    "challenge.id": (op_challenge_id, "generation_error"),
    "evm.challenge_hash": (op_evm_challenge_hash, "unknown_error"),
}


# --- protocol ----------------------------------------------------------------


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"type": error_type, "message": message}}


def answer(line: str) -> tuple[Any, dict[str, Any]]:
    """One request line -> (its op, the response object)."""
    try:
        request = json.loads(line)
    except ValueError as error:
        return None, _error("unknown_error", f"request is not JSON: {error}")
    if not isinstance(request, dict):
        return None, _error("unknown_error", "request is not a JSON object")
    op = request.get("op")
    if request.get("schema") != 1:
        return op, _error("unknown_error", f"unsupported request schema {request.get('schema')!r}")
    entry = OPS.get(op) if isinstance(op, str) else None
    if entry is None:
        return op, _error("unsupported_operation", f"pympp adapter does not support {op!r}")
    handler, error_type = entry
    try:
        return op, {"ok": True, "value": handler(request.get("input"))}
    except Exception as error:  # every SDK failure is the op's error
        return op, _error(error_type, f"{type(error).__name__}: {error}")


def encode(op: Any, response: dict[str, Any]) -> str:
    try:
        return json.dumps(response, allow_nan=False)
    except (ValueError, TypeError) as error:
        # pympp accepted the input, but its value is not JSON (NaN, Infinity,
        # an unexpected Python object): say so rather than fake a rejection.
        return json.dumps(
            _error(
                "unknown_error",
                f"pympp's value for {op!r} is not representable as JSON: {error}",
            )
        )


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            text = encode(*answer(line))
        except Exception as error:  # never leave a request unanswered
            log(traceback.format_exc())
            text = json.dumps(_error("unknown_error", f"adapter failure: {error!r}"))
        _PROTOCOL_OUT.write(text + "\n")
        _PROTOCOL_OUT.flush()


if __name__ == "__main__":
    main()
