// An mppx tempo/charge MCP server (draft-payment-transport-mcp-00):
// @modelcontextprotocol/sdk's McpServer over Streamable HTTP (stateless,
// JSON answers) with mppx's `Transport.mcpSdk()`, as mppx documents it.
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
//
// With --stdio the server speaks MCP on stdin and stdout instead (PORT
// unused), the same tools.
//
// Tools: `paid` and `paid-too` (the same price: operation binding) and
// `free-echo` (free, whatever it is sent). The endpoint is POST /mcp. The first stdout line is
// `listening 127.0.0.1:PORT`.

import * as http from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { Mppx, Transport, tempo } from 'mppx/server'
import { createClient, http as viemHttp } from 'viem'
import { tempoLocalnet } from 'viem/chains'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`mcp-server.mjs: the environment variable ${name} is required`)
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

const chain = {
  ...tempoLocalnet,
  id: chainId,
  rpcUrls: { default: { http: [rpcUrl] } },
}
const client = createClient({ chain, transport: viemHttp(rpcUrl) })

const payment = Mppx.create({
  realm,
  secretKey,
  transport: Transport.mcpSdk(),
  methods: [
    tempo.charge({
      currency,
      recipient,
      getClient: () => client,
    }),
  ],
})
const charge = payment.charge({ amount })

// A paid tool as mppx's documentation writes one.
function paidTool(name) {
  return async (extra) => {
    const result = await charge(extra)
    if (result.status === 402) throw result.challenge
    return result.withReceipt({
      content: [{ type: 'text', text: `paid content of ${name}` }],
    })
  }
}

// Stateless Streamable HTTP: a server and transport per request.
function mcpServer() {
  const server = new McpServer({ name: 'mppx-interop', version: '0.11.0' })
  for (const name of ['paid', 'paid-too']) {
    server.registerTool(name, { description: `${amount} PathUSD` }, paidTool(name))
  }
  server.registerTool('free-echo', { description: 'free' }, async () => ({
    content: [{ type: 'text', text: 'free content' }],
  }))
  return server
}

const httpServer = http.createServer(async (req, res) => {
  const started = Date.now()
  try {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
    if (path !== '/mcp' || req.method !== 'POST') {
      res.writeHead(path === '/mcp' ? 405 : 404, { 'content-type': 'text/plain' })
      res.end('POST /mcp\n')
      return
    }
    const chunks = []
    for await (const chunk of req) chunks.push(chunk)
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    const server = mcpServer()
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    })
    res.on('close', () => {
      transport.close()
      server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res, body)
    console.error(
      `mcp-server.mjs: ${body?.method ?? '?'} -> ${res.statusCode} in ${Date.now() - started} ms`,
    )
  } catch (error) {
    console.error('mcp-server.mjs: handler failed:', error)
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'text/plain' })
    }
    res.end(`internal error: ${error?.message ?? error}\n`)
  }
})

if (process.argv.includes('--stdio')) {
  // One server for the session, speaking MCP on stdin and stdout (stdout
  // carries nothing else); it ends when stdin closes.
  await mcpServer().connect(new StdioServerTransport())
} else {
  httpServer.listen(port, '127.0.0.1', () => {
    const address = httpServer.address()
    console.log(`listening 127.0.0.1:${address.port}`)
  })
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      httpServer.close()
      process.exit(0)
    })
  }
  if (process.env.EXIT_ON_STDIN_EOF === '1') {
    process.stdin.on('end', () => process.exit(0))
    process.stdin.resume()
  }
}
