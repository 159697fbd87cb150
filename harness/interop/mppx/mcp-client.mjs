// Calls one paid MCP tool with mppx's McpClient (draft-payment-transport-mcp-00)
// over @modelcontextprotocol/sdk's Streamable HTTP client, as mppx documents
// it, for mppconf's MCP client suite.
//
// Usage: node mcp-client.mjs OPERATION NAME URL
//   OPERATION  `tool` (mppx's McpClient wraps callTool only)
//   NAME       the tool's name
//   URL        the MCP endpoint
// Environment:
//   RPC_URL    JSON-RPC endpoint of the Tempo chain
//   CHAIN_ID   the chain this client pays on (anvil: 31337)
//   PAYER_KEY  0x-prefixed private key of the paying account
//
// stdout: `result <JSON of the tool result>` and `receipt <JSON or ->`.
// Exit status: 0 on a result, 1 on a JSON-RPC error answer, 2 on a usage or
// payment error (printed on stderr).

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { tempo } from 'mppx/client'
import { McpClient } from 'mppx/mcp/client'
import { createClient, http as viemHttp } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { tempoLocalnet } from 'viem/chains'

function required(name) {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`mcp-client.mjs: the environment variable ${name} is required`)
    process.exit(2)
  }
  return value
}

const [operation, name, url] = process.argv.slice(2)
if (!operation || !name || !/^https?:\/\//.test(url ?? '')) {
  console.error('usage: node mcp-client.mjs OPERATION NAME URL')
  process.exit(2)
}
if (operation !== 'tool') {
  console.error(`mcp-client.mjs: mppx's McpClient pays tool calls only, not ${operation}`)
  process.exit(2)
}
const rpcUrl = required('RPC_URL')
const chainId = Number(required('CHAIN_ID'))
const account = privateKeyToAccount(required('PAYER_KEY'))
const chain = { ...tempoLocalnet, id: chainId, rpcUrls: { default: { http: [rpcUrl] } } }
const viemClient = createClient({ chain, transport: viemHttp(rpcUrl) })

const client = new Client({ name: 'mppconf-interop-mppx', version: '0.11.0' })
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
} catch (error) {
  console.error('mcp-client.mjs: connect failed:', error)
  process.exit(2)
}
McpClient.wrap(client, {
  methods: [tempo.charge({ account, getClient: () => viemClient, expectedChainId: chainId })],
})

let code = 0
try {
  const result = await client.callTool({ name, arguments: {} })
  console.log(`result ${JSON.stringify(result.content)}`)
  console.log(`receipt ${result.receipt ? JSON.stringify(result.receipt) : '-'}`)
} catch (error) {
  console.error('mcp-client.mjs: the call failed:', error)
  code = typeof error?.code === 'number' ? 1 : 2
}
await client.close().catch(() => {})
process.exit(code)
