// Pays one URL with mppx's tempo/charge client, for interop tests against
// mppconf's reference server.
//
// Usage: node client.mjs URL
// Environment:
//   RPC_URL    JSON-RPC endpoint of the Tempo chain
//   CHAIN_ID   the chain this client is willing to pay on (anvil: 31337)
//   PAYER_KEY  0x-prefixed private key of the paying account
//   METHOD     HTTP method (default GET)
//   BODY       request body (default none)
//
// stdout, one item a line:
//   status <HTTP status of the final answer>
//   payment-receipt <Payment-Receipt header, or "-" if absent>
// stderr carries evidence: the challenge received, the credential sent,
// the answer's body.
// Exit status: 0 on a 2xx answer, 1 on any other answer, 2 on a usage or
// payment error (the error is printed on stderr).

import { Mppx, tempo } from 'mppx/client'
import { createClient, http as viemHttp } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { tempoLocalnet } from 'viem/chains'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`client.mjs: the environment variable ${name} is required`)
    process.exit(2)
  }
  return value
}

const url = process.argv[process.argv.length - 1]
if (process.argv.length < 3 || !/^https?:\/\//.test(url)) {
  console.error('usage: node client.mjs URL')
  process.exit(2)
}
const rpcUrl = required('RPC_URL')
const chainId = Number(required('CHAIN_ID'))
const account = privateKeyToAccount(required('PAYER_KEY'))

const chain = {
  ...tempoLocalnet,
  id: chainId,
  rpcUrls: { default: { http: [rpcUrl] } },
}
const client = createClient({ chain, transport: viemHttp(rpcUrl) })

const mppx = Mppx.create({
  polyfill: false,
  methods: [
    tempo.charge({
      account,
      getClient: () => client,
      expectedChainId: chainId,
    }),
  ],
})

mppx.onChallengeReceived(({ response }) => {
  const field = response?.headers?.get?.('www-authenticate')
  console.error(`client.mjs: challenge: ${field}`)
})
mppx.onCredentialCreated(({ credential }) => {
  console.error(`client.mjs: credential: ${credential}`)
})

const started = Date.now()
let response
try {
  const method = process.env.METHOD || 'GET'
  const body = process.env.BODY ? process.env.BODY : undefined
  response = await mppx.fetch(url, { method, body })
} catch (error) {
  console.error(`client.mjs: payment failed after ${Date.now() - started} ms:`, error)
  process.exit(2)
}
const body = await response.text()
console.log(`status ${response.status}`)
console.log(`payment-receipt ${response.headers.get('payment-receipt') ?? '-'}`)
console.error(`client.mjs: answered ${response.status} in ${Date.now() - started} ms`)
console.error(`client.mjs: body: ${body}`)
process.exit(response.ok ? 0 : 1)
