// An mppx server of the `stripe` charge method (draft-stripe-charge-00)
// in Stripe test mode: mppx's own `stripe.charge`, given a Stripe test
// secret key. Issuing challenges needs no call to Stripe; verifying a
// credential (creating a PaymentIntent from the Shared Payment Token)
// does, so without a live Stripe test account nothing here can be paid.
//
// Environment:
//   PORT               port on 127.0.0.1; 0 = any free port
//   SECRET             HMAC secret binding challenge ids
//   STRIPE_SECRET_KEY  a Stripe test secret key (sk_test_...), passed
//                      through from mppconf's environment and never
//                      written in a manifest, report or evidence; without
//                      it, a placeholder key that Stripe refuses
//   STRIPE_NETWORK_ID  the Stripe business network profile id
//                      ("internal" by default)
//   REALM              realm, "mppx.stripe" by default
//
// One paid route: GET /paid, 10.00 USD. Anything else is 404.
// The first stdout line is `listening 127.0.0.1:PORT`.

import * as http from 'node:http'
import { Mppx, NodeListener, stripe } from 'mppx/server'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`stripe-server.mjs: the environment variable ${name} is required`)
    process.exit(2)
  }
  return value
}

const port = Number(process.env.PORT ?? '0')
const secretKey = required('SECRET')
const realm = process.env.REALM || 'mppx.stripe'

const charge = stripe.charge({
  secretKey: process.env.STRIPE_SECRET_KEY || 'sk_test_mppconf_no_account',
  networkId: process.env.STRIPE_NETWORK_ID || 'internal',
  paymentMethodTypes: ['card'],
  currency: 'usd',
  decimals: 2,
})

const mppx = Mppx.create({ realm, secretKey, methods: [charge] })
const paid = mppx.charge({ amount: '10', description: 'mppconf test resource' })

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
  try {
    const request = toFetchRequest(req)
    const path = new URL(request.url).pathname
    if (path !== '/paid' || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found\n')
      return
    }
    const result = await paid(request)
    const response =
      result.status === 402
        ? result.challenge
        : result.withReceipt(Response.json({ paid: true, resource: path }))
    await NodeListener.sendResponse(res, response)
  } catch (error) {
    console.error('stripe-server.mjs: handler failed:', error)
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
    res.end(`internal error: ${error?.message ?? error}\n`)
  }
})

server.listen(port, '127.0.0.1', () => {
  console.log(`listening 127.0.0.1:${server.address().port}`)
})

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close()
    process.exit(0)
  })
}
