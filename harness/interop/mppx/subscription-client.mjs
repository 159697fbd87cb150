// Pays one URL with mppx's tempo/subscription client: signs the Tempo key
// authorization the 402 challenge asks for (locally, with the payer's key)
// and retries with it. For mppconf's client suite, whose scripted server
// offers a subscription challenge and judges the credential offline.
//
// Usage: node subscription-client.mjs URL
// Environment:
//   PAYER_KEY  0x-prefixed private key of the root account that signs
//
// stdout: `status <HTTP status of the final answer>`; stderr carries
// evidence (the challenge received, the credential sent).
// Exit status: 0 on a 2xx answer, 1 on any other answer, 2 on a usage or
// payment error (printed on stderr).

import { Mppx, tempo } from 'mppx/client'
import { privateKeyToAccount } from 'viem/accounts'

const url = process.argv[process.argv.length - 1]
if (process.argv.length < 3 || !/^https?:\/\//.test(url)) {
  console.error('usage: node subscription-client.mjs URL')
  process.exit(2)
}
const key = process.env.PAYER_KEY
if (!key) {
  console.error('subscription-client.mjs: the environment variable PAYER_KEY is required')
  process.exit(2)
}

const mppx = Mppx.create({
  polyfill: false,
  methods: [tempo.subscription({ account: privateKeyToAccount(key) })],
})
mppx.onChallengeReceived(({ response }) => {
  console.error(`subscription-client.mjs: challenge: ${response?.headers?.get?.('www-authenticate')}`)
})
mppx.onCredentialCreated(({ credential }) => {
  console.error(`subscription-client.mjs: credential: ${credential}`)
})

let response
try {
  response = await mppx.fetch(url)
} catch (error) {
  console.error('subscription-client.mjs: payment failed:', error)
  process.exit(2)
}
console.log(`status ${response.status}`)
process.exit(response.ok ? 0 : 1)
