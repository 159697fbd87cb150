// Pays one URL with mppx's `evm` charge client (draft-evm-charge-00), as a
// deployer configures it for mppconf's local EVM chain: the chain id
// allowlisted (`networks`), the budget as `maxAtomicAmount`, and the
// EIP-3009 domain of mppconf's token (mppx needs a token's name and
// version to sign an authorization; it signs no other credential type).
//
// Usage: node evm-client.mjs URL
// Environment:
//   RPC_URL     JSON-RPC endpoint of the chain (unused by mppx's signer:
//               an authorization is signed off-chain)
//   CHAIN_ID    the chain this client is willing to pay on
//   PAYER_KEY   0x-prefixed private key of the paying account
//   MAX_AMOUNT  the most it pays, in base units
//   METHOD      HTTP method (default GET)
//   BODY        request body (default none)
//
// stdout: `status <HTTP status>` and `payment-receipt <header or ->`.
// stderr carries evidence: the challenge received, the credential sent.
// Exit status: 0 on a 2xx answer, 1 on any other answer, 2 on a usage or
// payment error (the error is printed on stderr).

import { Mppx, evm } from 'mppx/client'
import { privateKeyToAccount } from 'viem/accounts'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`evm-client.mjs: the environment variable ${name} is required`)
    process.exit(2)
  }
  return value
}

const url = process.argv[process.argv.length - 1]
if (process.argv.length < 3 || !/^https?:\/\//.test(url)) {
  console.error('usage: node evm-client.mjs URL')
  process.exit(2)
}
const chainId = Number(required('CHAIN_ID'))
const account = privateKeyToAccount(required('PAYER_KEY'))

const mppx = Mppx.create({
  polyfill: false,
  methods: [
    evm.charge({
      account,
      authorization: { name: 'MPP Test USD', version: '2' },
      networks: [chainId],
      maxAtomicAmount: required('MAX_AMOUNT'),
    }),
  ],
})

mppx.onChallengeReceived(({ response }) => {
  const field = response?.headers?.get?.('www-authenticate')
  console.error(`evm-client.mjs: challenge: ${field}`)
})
mppx.onCredentialCreated(({ credential }) => {
  console.error(`evm-client.mjs: credential: ${credential}`)
})

const started = Date.now()
let response
try {
  const method = process.env.METHOD || 'GET'
  const body = process.env.BODY ? process.env.BODY : undefined
  response = await mppx.fetch(url, { method, body })
} catch (error) {
  console.error(`evm-client.mjs: payment failed after ${Date.now() - started} ms:`, error)
  process.exit(2)
}
const body = await response.text()
console.log(`status ${response.status}`)
console.log(`payment-receipt ${response.headers.get('payment-receipt') ?? '-'}`)
console.error(`evm-client.mjs: answered ${response.status} in ${Date.now() - started} ms`)
console.error(`evm-client.mjs: body: ${body}`)
process.exit(response.ok ? 0 : 1)
