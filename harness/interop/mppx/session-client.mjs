// Pays one session resource with mppx's legacy (v1, contract-backed)
// session client, for the session client suite: it opens a channel on the
// challenge's escrow, reads the metered SSE stream (mppx answers each
// payment-need-voucher itself) and closes the channel.
//
// Usage: node session-client.mjs URL
// Environment:
//   RPC_URL     JSON-RPC endpoint of the Tempo chain
//   CHAIN_ID    the chain id of that endpoint (anvil: 31337)
//   PAYER_KEY   0x-prefixed private key of the paying account
//   MAX_AMOUNT  the budget in base units (6 decimals): mppx's maxDeposit,
//               which caps the deposit and every voucher
//
// mppconf's escrow is not one of mppx's canonical deployments, so the
// client is told to accept the escrow the challenge names
// (allowCustomEscrow): the suite judges whether it opens there.
//
// stdout: `units N` (messages read) and `close <receipt JSON or ->`.
// Exit status: 0 when the stream ended and the channel was closed, 2 on
// any error (printed on stderr).

import { sessionLegacyManager } from 'mppx/client'
import { createClient, http as viemHttp } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { tempoLocalnet } from 'viem/chains'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`session-client.mjs: the environment variable ${name} is required`)
    process.exit(2)
  }
  return value
}

/** Base units (6 decimals) as the decimal text mppx's maxDeposit takes. */
function human(baseUnits) {
  const raw = BigInt(baseUnits)
  const whole = raw / 1000000n
  const fraction = (raw % 1000000n).toString().padStart(6, '0').replace(/0+$/, '')
  return fraction ? `${whole}.${fraction}` : `${whole}`
}

const url = process.argv[process.argv.length - 1]
if (process.argv.length < 3 || !/^https?:\/\//.test(url)) {
  console.error('usage: node session-client.mjs URL')
  process.exit(2)
}
const rpcUrl = required('RPC_URL')
const chainId = Number(required('CHAIN_ID'))
const account = privateKeyToAccount(required('PAYER_KEY'))
const maxDeposit = human(required('MAX_AMOUNT'))

const chain = {
  ...tempoLocalnet,
  id: chainId,
  rpcUrls: { default: { http: [rpcUrl] } },
}
const client = createClient({ chain, transport: viemHttp(rpcUrl) })

const manager = sessionLegacyManager({
  account,
  getClient: () => client,
  allowCustomEscrow: true,
  maxDeposit,
})

const started = Date.now()
let units = 0
try {
  const stream = await manager.sse(url)
  for await (const message of stream) {
    units += 1
    console.error(`session-client.mjs: message ${units}: ${message}`)
  }
} catch (error) {
  console.error(`session-client.mjs: the stream failed after ${units} message(s), ${Date.now() - started} ms:`, error)
  try {
    await manager.close()
  } catch (closeError) {
    console.error('session-client.mjs: close failed too:', closeError)
  }
  console.log(`units ${units}`)
  process.exit(2)
}
console.log(`units ${units}`)
try {
  const receipt = await manager.close()
  console.log(`close ${receipt ? JSON.stringify(receipt) : '-'}`)
} catch (error) {
  console.error('session-client.mjs: close failed:', error)
  process.exit(2)
}
console.error(`session-client.mjs: done in ${Date.now() - started} ms`)
process.exit(0)
