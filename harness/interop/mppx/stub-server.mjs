// An mppx server of the `stub` test method: what an SDK or server author
// tests their MPP layer with before wiring a rail. The method is defined
// with mppx's own API (Method.from + Method.toServer) and its verification
// accepts the fixed payload {"token": "stub"}; everything else (challenge
// ids, binding, expiry, replay, headers, problem types) is mppx's.
//
// Environment:
//   PORT       port on 127.0.0.1; 0 = any free port
//   SECRET     HMAC secret binding challenge ids
//   RECIPIENT  recipient named in the request (nothing is paid to it)
//   REALM      realm, "mppx.stub" by default
//
// One paid route: GET /paid. Anything else is 404.
// The first stdout line is `listening 127.0.0.1:PORT`.

import * as http from 'node:http'
import { Method, Receipt, z } from 'mppx'
import { Mppx, NodeListener } from 'mppx/server'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`stub-server.mjs: the environment variable ${name} is required`)
    process.exit(2)
  }
  return value
}

const port = Number(process.env.PORT ?? '0')
const secretKey = required('SECRET')
const recipient = required('RECIPIENT')
const realm = process.env.REALM || 'mppx.stub'

const stub = Method.from({
  name: 'stub',
  intent: 'charge',
  schema: {
    credential: { payload: z.object({ token: z.literal('stub') }) },
    request: z.object({ amount: z.string(), currency: z.string(), recipient: z.string() }),
  },
})

const stubServer = Method.toServer(stub, {
  // The payload schema already holds the stub's rule; nothing settles, so
  // the receipt references the challenge.
  async verify({ credential }) {
    return Receipt.from({
      method: 'stub',
      reference: credential.challenge.id,
      status: 'success',
      timestamp: new Date().toISOString(),
    })
  },
})

const mppx = Mppx.create({ realm, secretKey, methods: [stubServer] })
const charge = mppx.charge({ amount: '1000', currency: 'usd', recipient })

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
    const result = await charge(request)
    const response =
      result.status === 402
        ? result.challenge
        : result.withReceipt(Response.json({ paid: true, resource: path }))
    await NodeListener.sendResponse(res, response)
  } catch (error) {
    console.error('stub-server.mjs: handler failed:', error)
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
