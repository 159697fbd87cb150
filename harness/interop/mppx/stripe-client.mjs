// Pays one URL with mppx's stripe/charge client (draft-stripe-charge-00).
// mppx leaves the Shared Payment Token to a `createToken` callback, the one
// step that needs Stripe's API and an account (mppx's docs proxy it through
// the merchant's server, which holds the secret key). This machine reaches
// no Stripe, so the callback returns a placeholder token
// `spt_mppconf_offline_<n>` and says so on stderr: the run judges what mppx
// itself builds (the credential, its payload, the externalId it echoes),
// never a payment. For a live run, replace the callback with one that calls
// your token endpoint.
//
// Usage: node stripe-client.mjs URL
// stdout: `status <HTTP status of the final answer>`; stderr carries
// evidence (the challenge received, the credential sent).
// Exit status: 0 on a 2xx answer, 1 on any other answer, 2 on a usage or
// payment error (printed on stderr).

import { Mppx, stripe } from 'mppx/client'

const url = process.argv[process.argv.length - 1]
if (process.argv.length < 3 || !/^https?:\/\//.test(url)) {
  console.error('usage: node stripe-client.mjs URL')
  process.exit(2)
}
const paymentMethod = process.env.STRIPE_PAYMENT_METHOD || 'pm_card_visa'
let minted = 0

const mppx = Mppx.create({
  polyfill: false,
  methods: [
    stripe.charge({
      paymentMethod,
      createToken: async () => {
        minted += 1
        console.error('stripe-client.mjs: a placeholder token, not a Stripe SPT (no Stripe account here)')
        return `spt_mppconf_offline_${minted}`
      },
    }),
  ],
})
mppx.onChallengeReceived(({ response }) => {
  console.error(`stripe-client.mjs: challenge: ${response?.headers?.get?.('www-authenticate')}`)
})
mppx.onCredentialCreated(({ credential }) => {
  console.error(`stripe-client.mjs: credential: ${credential}`)
})

let response
try {
  response = await mppx.fetch(url)
} catch (error) {
  console.error('stripe-client.mjs: payment failed:', error)
  process.exit(2)
}
console.log(`status ${response.status}`)
process.exit(response.ok ? 0 : 1)
