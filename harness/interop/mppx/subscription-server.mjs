// An mppx tempo/subscription server (draft-tempo-subscription-00) on
// node:http, for interop tests against mppconf's reference client.
//
// Environment:
//   RPC_URL    JSON-RPC endpoint of the Tempo chain (anvil --network tempo,
//              hardfork t4 or later: activation needs TIP-1011 access keys)
//   CHAIN_ID   chain id to advertise and pay on (anvil: 31337)
//   PORT       port on 127.0.0.1; 0 = any free port
//   RECIPIENT  address paid every period
//   SECRET     HMAC secret binding challenge ids
//   FEE_PAYER_KEY  0x-prefixed private key of the account that sponsors the
//              fees of the activation (and renewal) transactions, which the
//              server submits itself with its access key (mppx `feePayer`)
//   AMOUNT     price per period in base units of the token, e.g. "1000".
//              mppx's `amount` is a decimal string that it scales with
//              `decimals` (parseUnits; 6 by default) into the base-unit
//              `amount` of the challenge; this server converts AMOUNT with
//              formatUnits(AMOUNT, 6) and passes decimals 6, so that the
//              challenge's `amount` is AMOUNT exactly (TIP-20: 6 decimals).
//   CURRENCY   TIP-20 token, PathUSD by default
//   REALM      realm, "mppx.interop" by default
//
// Every challenge asks for 1 period of 1 day (periodUnit "day",
// periodCount "1"); subscriptionExpires is 30 days after the server
// started, in whole seconds (mppx refuses fractional seconds), the same for
// every challenge so that a payer's second credential matches its stored
// subscription.
//
// Identity. mppx's subscription server finds "the" subscription by the key
// that `resolve` returns. With `requireCredential: true` every request must
// carry a credential (no reuse on request metadata alone), and a challenge
// for which `resolve` returns null gets a fresh server-owned access key of
// its own (mppx `createUnboundChallengeAccessKey`), so `resolve` returns
// null when there is no `source` (issuing a challenge, checking the route
// binding) and `{ key: <payer address, lowercase> }` once mppx has
// recovered the payer from the signed key authorization (`source`, in
// verify). Each payer thus gets its own subscription, keyed by its address:
// the first credential activates it (the server submits the first period's
// transferWithMemo with the authorized access key, fee-sponsored); a later
// credential of the same payer in the same period is answered from the
// stored record (same receipt, no transaction); a later period is billed
// lazily on the request path (mppx's automatic renewal).
// The store is mppx's in-memory store: subscriptions do not survive a
// restart.
//
// One paid route: GET /paid. Anything else is 404.
// The first stdout line is `listening 127.0.0.1:PORT`.

import * as http from 'node:http'
import { Mppx, NodeListener, Store, tempo } from 'mppx/server'
import { createClient, formatUnits, http as viemHttp } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { tempoLocalnet } from 'viem/chains'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`subscription-server.mjs: the environment variable ${name} is required`)
    process.exit(2)
  }
  return value
}

const rpcUrl = required('RPC_URL')
const chainId = Number(required('CHAIN_ID'))
const port = Number(process.env.PORT ?? '0')
const recipient = required('RECIPIENT')
const secretKey = required('SECRET')
const feePayer = privateKeyToAccount(required('FEE_PAYER_KEY'))
const amountBaseUnits = required('AMOUNT')
if (!/^[1-9]\d*$/.test(amountBaseUnits)) {
  console.error(`subscription-server.mjs: AMOUNT must be a positive integer in base units, not ${amountBaseUnits}`)
  process.exit(2)
}
const decimals = 6
const amount = formatUnits(BigInt(amountBaseUnits), decimals)
const currency = process.env.CURRENCY || '0x20c0000000000000000000000000000000000000'
const realm = process.env.REALM || 'mppx.interop'

// 30 days ahead, whole seconds (RFC 3339).
const expiresAt = new Date((Math.floor(Date.now() / 1000) + 30 * 86400) * 1000)
const subscriptionExpires = expiresAt.toISOString().replace('.000Z', 'Z')

// mppx learns the chain only from the client's chain: spread the localnet
// definition with ours.
const chain = {
  ...tempoLocalnet,
  id: chainId,
  rpcUrls: { default: { http: [rpcUrl] } },
}
const client = createClient({ chain, transport: viemHttp(rpcUrl) })

const mppx = Mppx.create({
  realm,
  secretKey,
  methods: [
    tempo.subscription({
      chainId,
      currency,
      decimals,
      recipient,
      feePayer,
      getClient: () => client,
      store: Store.memory(),
      periodUnit: 'day',
      periodCount: '1',
      subscriptionExpires,
      requireCredential: true,
      resolve: ({ source }) =>
        source ? { key: source.address.toLowerCase() } : null,
      hooks: {
        activated: ({ receipt, subscription }) =>
          console.error(
            `subscription-server.mjs: activated ${subscription.subscriptionId} for ${subscription.lookupKey}: ${receipt.reference}`,
          ),
        renewed: ({ periodIndex, receipt, subscription }) =>
          console.error(
            `subscription-server.mjs: renewed ${subscription.subscriptionId} period ${periodIndex}: ${receipt.reference}`,
          ),
      },
    }),
  ],
})

const subscribe = mppx.subscription({ amount })

// A Fetch Request from a node:http request (GET only: no body needed).
function toFetchRequest(req) {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v)
    else if (value !== undefined) headers.set(name, value)
  }
  const host = req.headers.host ?? '127.0.0.1'
  return new Request(new URL(req.url ?? '/', `http://${host}`), {
    method: req.method,
    headers,
  })
}

const server = http.createServer(async (req, res) => {
  const started = Date.now()
  try {
    const request = toFetchRequest(req)
    const path = new URL(request.url).pathname
    if (path !== '/paid' || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found\n')
      return
    }
    const result = await subscribe(request)
    let response
    if (result.status === 402) {
      response = result.challenge
    } else {
      response = result.withReceipt(
        Response.json({ paid: true, resource: path }),
      )
    }
    // Evidence for failed payments: the credential and the problem.
    const credential = req.headers.authorization
    const problem =
      credential && response.status !== 200
        ? await response.clone().text()
        : undefined
    await NodeListener.sendResponse(res, response)
    console.error(
      `subscription-server.mjs: ${req.method} ${req.url} -> ${response.status} in ${Date.now() - started} ms` +
        (credential ? ' (with credential)' : ''),
    )
    if (problem !== undefined) {
      console.error(`subscription-server.mjs: credential: ${credential}`)
      console.error(`subscription-server.mjs: problem: ${problem}`)
    }
  } catch (error) {
    console.error('subscription-server.mjs: handler failed:', error)
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'text/plain' })
    }
    res.end(`internal error: ${error?.message ?? error}\n`)
  }
})

server.listen(port, '127.0.0.1', () => {
  const address = server.address()
  console.log(`listening 127.0.0.1:${address.port}`)
})

// Stop cleanly when the test harness asks.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close()
    process.exit(0)
  })
}
// Die with the parent: stdin is a pipe from the harness; EOF means it is gone.
if (process.env.EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => process.exit(0))
  process.stdin.resume()
}
