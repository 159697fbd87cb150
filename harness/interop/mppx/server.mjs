// An mppx tempo/charge server on node:http, for interop tests against
// mppconf's reference client.
//
// Environment:
//   RPC_URL    JSON-RPC endpoint of the Tempo chain (anvil --network tempo)
//   CHAIN_ID   chain id to advertise and pay on (anvil: 31337)
//   PORT       port on 127.0.0.1; 0 = any free port
//   RECIPIENT  address paid by every charge
//   SECRET     HMAC secret binding challenge ids
//   AMOUNT     price as a decimal string in token units (6 decimals), e.g. 0.001
//   CURRENCY   TIP-20 token, PathUSD by default
//   REALM      realm, "mppx.interop" by default
//   REQUIRES_AUTH  "1": mppx's `requiresAuth` (its challenges select
//              Payment-Authorization, draft-httpauth-payment-01)
//
// One paid route: GET /paid, and its discovery document at GET
// /openapi.json (mppx's `generate`, served with the headers of mppx's own
// express/hono `discovery` middleware). Anything else is 404.
// The first stdout line is `listening 127.0.0.1:PORT`.

import * as http from 'node:http'
import { generate } from 'mppx/discovery'
import { Mppx, NodeListener, tempo } from 'mppx/server'
import { createClient, http as viemHttp } from 'viem'
import { tempoLocalnet } from 'viem/chains'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`server.mjs: the environment variable ${name} is required`)
    process.exit(2)
  }
  return value
}

const rpcUrl = required('RPC_URL')
const chainId = Number(required('CHAIN_ID'))
const port = Number(process.env.PORT ?? '0')
const recipient = required('RECIPIENT')
const secretKey = required('SECRET')
const amount = required('AMOUNT')
const currency = process.env.CURRENCY || '0x20c0000000000000000000000000000000000000'
const realm = process.env.REALM || 'mppx.interop'

// mppx learns the chain only from the client's chain: `chainId` alone
// advertises 4217, so spread the localnet definition with ours.
const chain = {
  ...tempoLocalnet,
  id: chainId,
  rpcUrls: { default: { http: [rpcUrl] } },
}
const client = createClient({ chain, transport: viemHttp(rpcUrl) })

const mppx = Mppx.create({
  realm,
  secretKey,
  requiresAuth: process.env.REQUIRES_AUTH === '1',
  methods: [
    tempo.charge({
      currency,
      recipient,
      getClient: () => client,
    }),
  ],
})

const charge = mppx.charge({ amount })

// draft-payment-discovery-00: what mppx generates for the paid route.
const discoveryDocument = JSON.stringify(
  generate(mppx, {
    routes: [{ handler: charge, method: 'get', path: '/paid' }],
    serviceInfo: { categories: ['developer-tools'] },
  }),
)

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
    if (path === '/openapi.json' && req.method === 'GET') {
      res.writeHead(200, {
        'content-type': 'application/json',
        'cache-control': 'public, max-age=300',
      })
      res.end(discoveryDocument)
      return
    }
    if (path !== '/paid' || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found\n')
      return
    }
    const result = await charge(request)
    let response
    if (result.status === 402) {
      response = result.challenge
    } else {
      response = result.withReceipt(
        Response.json({ paid: true, resource: path }),
      )
    }
    // Evidence for failed payments: the credential and the problem.
    const credential =
      req.headers['payment-authorization'] ?? req.headers.authorization
    const problem =
      credential && response.status !== 200
        ? await response.clone().text()
        : undefined
    await NodeListener.sendResponse(res, response)
    console.error(
      `server.mjs: ${req.method} ${req.url} -> ${response.status} in ${Date.now() - started} ms` +
        (credential ? ' (with credential)' : ''),
    )
    if (problem !== undefined) {
      console.error(`server.mjs: credential: ${credential}`)
      console.error(`server.mjs: problem: ${problem}`)
    }
  } catch (error) {
    console.error('server.mjs: handler failed:', error)
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
