// An mppconf payer for the `stub` method (the payer ABI: harness/README.md).
//
// mppconf writes one JSON request per line on stdin:
//   {"schema": 1, "op": "pay", "challenge": {...decoded...},
//    "header": "Payment id=...", "resource": {"method": "GET", "url": "..."}}
// and reads one JSON line per request: the credential payload it pays with
// (mppconf builds the credential around it), or a typed error.
import { createInterface } from 'node:readline'

for await (const line of createInterface({ input: process.stdin })) {
  const { challenge } = JSON.parse(line)
  const answer =
    challenge.method !== 'stub'
      ? {
          ok: false,
          error: { type: 'unsupported_method', message: `this payer pays stub, not ${challenge.method}` },
        }
      : {
          ok: true,
          // A real payer pays here: calls its rail's test API, or signs a
          // transfer of challenge.request.amount to its recipient.
          value: {
            id: challenge.id, // the challenge it paid
            payload: { token: 'stub' }, // the credential's payload
            // source: 'did:...',        // optional: who paid
          },
        }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
