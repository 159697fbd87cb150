// An mppx server of the `evm` charge method (draft-evm-charge-00):
// mppx's own `evm.charge` (`mppx/server`), on mppconf's local EVM chain and
// EIP-3009 token. mppx verifies the EIP-3009 authorization itself and
// leaves settlement to the deployer (`settle`, or an x402 facilitator);
// this program's `settle` is what a deployer writes: the recipient submits
// `transferWithAuthorization` with viem, waits for the receipt, and
// answers the transaction hash; a transfer that does not settle (refused
// by the chain, or reverted) is mppx's own VerificationFailedError, as a
// deployer using mppx's error types would write it.
//
// Environment:
//   PORT        port on 127.0.0.1; 0 = any free port
//   SECRET      HMAC secret binding challenge ids
//   RPC_URL     the chain
//   CHAIN_ID    its id
//   TOKEN       the EIP-3009 token (mppconf's MppTestToken: domain name
//               "MPP Test USD", version "2", 6 decimals)
//   PAYEE_KEY   the recipient's private key (it submits and pays gas)
//   REALM       realm, "mppx.evm" by default
//
// One paid route: GET /paid, 0.001 of the token (1000 base units).
// Anything else is 404. The first stdout line is `listening 127.0.0.1:PORT`.

import * as http from 'node:http'
import { Errors } from 'mppx'
import { Mppx, NodeListener, evm } from 'mppx/server'
import { createPublicClient, createWalletClient, defineChain, http as rpc, parseSignature } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`evm-server.mjs: the environment variable ${name} is required`)
    process.exit(2)
  }
  return value
}

const port = Number(process.env.PORT ?? '0')
const secretKey = required('SECRET')
const rpcUrl = required('RPC_URL')
const chainId = Number(required('CHAIN_ID'))
const token = required('TOKEN')
const payee = privateKeyToAccount(required('PAYEE_KEY'))
const realm = process.env.REALM || 'mppx.evm'

const chain = defineChain({
  id: chainId,
  name: 'mppconf local EVM chain',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [rpcUrl] } },
})
const publicClient = createPublicClient({ chain, transport: rpc(rpcUrl) })
const walletClient = createWalletClient({ account: payee, chain, transport: rpc(rpcUrl) })

const transferWithAuthorization = [
  {
    type: 'function',
    name: 'transferWithAuthorization',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'from', type: 'address' },
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
      { name: 'validAfter', type: 'uint256' },
      { name: 'validBefore', type: 'uint256' },
      { name: 'nonce', type: 'bytes32' },
      { name: 'v', type: 'uint8' },
      { name: 'r', type: 'bytes32' },
      { name: 's', type: 'bytes32' },
    ],
    outputs: [],
  },
]

// Settlements go out one at a time: the payee's nonces.
let queue = Promise.resolve()

async function settle({ payload }) {
  const run = queue
    .then(() => submit(payload))
    .catch((error) => {
      if (error instanceof Errors.VerificationFailedError) throw error
      // The chain's own words stay in the log (they can name the RPC URL).
      console.error('evm-server.mjs: settlement failed:', error?.shortMessage ?? error)
      throw new Errors.VerificationFailedError({ reason: 'the transfer did not settle on chain' })
    })
  queue = run.catch(() => {})
  return run
}

async function submit(payload) {
  const { v, r, s, yParity } = parseSignature(payload.signature)
  const hash = await walletClient.writeContract({
    address: token,
    abi: transferWithAuthorization,
    functionName: 'transferWithAuthorization',
    args: [
      payload.from,
      payload.to,
      BigInt(payload.value),
      BigInt(payload.validAfter),
      BigInt(payload.validBefore),
      payload.nonce,
      Number(v ?? 27n + BigInt(yParity)),
      r,
      s,
    ],
  })
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') {
    throw new Errors.VerificationFailedError({ reason: 'the transfer reverted' })
  }
  return { reference: hash }
}

const charge = evm.charge({
  currency: token,
  recipient: payee.address,
  chainId,
  decimals: 6,
  authorization: { name: 'MPP Test USD', version: '2' },
  settle,
})

const mppx = Mppx.create({ realm, secretKey, methods: [charge] })
const paid = mppx.charge({ amount: '0.001', description: 'mppconf test resource' })

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
    console.error('evm-server.mjs: handler failed:', error)
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
    res.end(`internal error: ${error?.message ?? error}\n`)
  }
})

server.listen(port, '127.0.0.1', () => {
  const address = server.address()
  console.log(`listening 127.0.0.1:${address.port}`)
})

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close()
    process.exit(0)
  })
}
