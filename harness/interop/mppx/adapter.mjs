// mppconf adapter for mppx (the TypeScript MPP SDK), persistent mode.
//
// Protocol: one JSON request per line on stdin, {"schema":1,"op":OP,"input":…};
// one JSON response per line on stdout, in order: {"ok":true,"value":…} or
// {"ok":false,"error":{"type":T,"message":M}}. Nothing else is written to
// stdout (diagnostics go to stderr). See vectors/README.md, "Operations (the
// adapter ABI)".
//
// Every answer comes from mppx's own functions; this file only converts
// shapes between the ABI's objects and mppx's:
//
//   challenge.parse       Challenge.deserialize
//   challenge.format      Challenge.from (mppx's constructor, which validates
//                         with Challenge.Schema) then Challenge.serialize
//   credential.parse      Credential.deserialize
//   credential.format     Challenge.from for the echoed challenge, then
//                         Credential.from and Credential.serialize
//   receipt.parse         Receipt.deserialize
//   receipt.format        Receipt.from then Receipt.serialize
//   base64url.encode      Base64.fromString(text, {url: true, pad: false}) of
//   base64url.decode      Base64.toString       `ox`, the dependency (pinned by
//                         mppx 0.11.0 to ox 0.14.33) that mppx uses for every
//                         base64url text it reads or writes; mppx exports no
//                         base64url helper of its own
//   challenge.id          Challenge.from with `secretKey` (HMAC-SHA256 id)
//   challenges.parse      Challenge.deserializeList, once per field value
//   accept_payment.parse  AcceptPayment.parse  (mppx/dist/internal: not in the
//   accept_payment.select AcceptPayment.rank    package's exports, imported by
//                         file path; the select fallbacks are those of
//                         mppx's server, dist/server/Mppx.js)
//   payment_info.parse    PaymentInfo.parse (mppx/discovery: its zod schema of
//                         the x-payment-info extension, draft-payment-discovery-00)
//   mcp.payment_required.parse  McpClient.isPaymentRequiredError (mppx/mcp/client:
//                         how mppx's MCP client recognizes a challenge error)
//   mcp.credential.parse  what mppx's MCP server transport reads: params._meta's
//                         credential (dist/mcp/internal/Credential.js parse,
//                         imported by file path; the root-level _meta it does
//                         not read)
//   session.channel_id    draft-tempo-session-00: v1 the legacy
//                         Channel.computeId (dist/tempo/legacy/session), v2
//                         the TIP-1034 Channel.computeId
//                         (dist/tempo/session/precompile), both imported by
//                         file path
//   evm.challenge_hash    draft-evm-charge-00: Types.challengeHash (mppx/evm),
//                         the nonce mppx's EVM client signs and its server
//                         expects

import { StringDecoder } from 'node:string_decoder'
import { Challenge, Credential, Receipt } from 'mppx'
import { PaymentInfo } from 'mppx/discovery'
import { Types as EvmTypes } from 'mppx/evm'
import { McpClient } from 'mppx/mcp/client'
import * as McpCredential from './node_modules/mppx/dist/mcp/internal/Credential.js'
import { Base64 } from 'ox'
import * as AcceptPayment from './node_modules/mppx/dist/internal/AcceptPayment.js'
import * as LegacyChannel from './node_modules/mppx/dist/tempo/legacy/session/Channel.js'
import * as PrecompileChannel from './node_modules/mppx/dist/tempo/session/precompile/Channel.js'

// Keep stdout for responses only, whatever a library might print.
for (const name of ['log', 'info', 'debug', 'warn']) {
  console[name] = (...args) => console.error(...args)
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isString(value) {
  return typeof value === 'string'
}

// An mppx challenge (Challenge.Schema output) as the ABI's challenge object.
// `header` (draft-httpauth-payment-01) is kept; `meta` has no place in the
// ABI and is dropped; `opaque` is already mppx's base64url text.
function toAbiChallenge(challenge) {
  const out = {
    id: challenge.id,
    realm: challenge.realm,
    method: challenge.method,
    intent: challenge.intent,
    request: challenge.request,
  }
  for (const key of ['expires', 'digest', 'description', 'opaque', 'header']) {
    if (challenge[key] !== undefined) out[key] = challenge[key]
  }
  return out
}

// The ABI's challenge members as Challenge.from parameters. `opaque` given
// as the flat object goes to mppx's `meta`, which mppx encodes (JCS, then
// base64url) itself; given as text it is mppx's `opaque` as it is.
function challengeParameters(input, members) {
  if (!isPlainObject(input)) throw new TypeError('the input is not a JSON object')
  const parameters = {}
  for (const key of members) {
    if (input[key] !== undefined) parameters[key] = input[key]
  }
  if (input.opaque !== undefined) {
    if (isPlainObject(input.opaque)) parameters.meta = input.opaque
    else parameters.opaque = input.opaque
  }
  return parameters
}

const challengeMembers = ['id', 'realm', 'method', 'intent', 'request', 'expires', 'digest', 'description', 'header']

function requireString(input, key) {
  if (!isPlainObject(input) || !isString(input[key])) {
    throw new TypeError(`input.${key} must be a string`)
  }
  return input[key]
}

const ops = {
  'challenge.parse': {
    errorType: 'parse_error',
    run(input) {
      return toAbiChallenge(Challenge.deserialize(requireString(input, 'header')))
    },
  },

  'challenge.format': {
    errorType: 'format_error',
    run(input) {
      const challenge = Challenge.from(challengeParameters(input, challengeMembers))
      return { header: Challenge.serialize(challenge) }
    },
  },

  'credential.parse': {
    errorType: 'parse_error',
    run(input) {
      const credential = Credential.deserialize(requireString(input, 'header'))
      const value = { challenge: toAbiChallenge(credential.challenge) }
      // mppx does not require a payload; a missing one stays missing.
      if (credential.payload !== undefined) value.payload = credential.payload
      value.source = credential.source ?? null
      return value
    },
  },

  'credential.format': {
    errorType: 'format_error',
    run(input) {
      if (!isPlainObject(input)) throw new TypeError('the input is not a JSON object')
      const challenge = Challenge.from(challengeParameters(input.challenge, challengeMembers))
      const credential = Credential.from({
        challenge,
        payload: input.payload,
        ...(input.source !== undefined && { source: input.source }),
      })
      return { header: Credential.serialize(credential) }
    },
  },

  'receipt.parse': {
    errorType: 'parse_error',
    run(input) {
      return Receipt.deserialize(requireString(input, 'header'))
    },
  },

  'receipt.format': {
    errorType: 'format_error',
    run(input) {
      return { header: Receipt.serialize(Receipt.from(input)) }
    },
  },

  'base64url.encode': {
    errorType: 'encoding_error',
    run(input) {
      return { text: Base64.fromString(requireString(input, 'text'), { url: true, pad: false }) }
    },
  },

  'base64url.decode': {
    errorType: 'encoding_error',
    run(input) {
      return { text: Base64.toString(requireString(input, 'text')) }
    },
  },

  'challenge.id': {
    errorType: 'generation_error',
    run(input) {
      if (!isPlainObject(input)) throw new TypeError('the input is not a JSON object')
      const secretKey = input.secretKey ?? input.secret
      const parameters = challengeParameters(input, ['realm', 'method', 'intent', 'request', 'expires', 'digest', 'header'])
      const challenge = Challenge.from({ ...parameters, secretKey })
      return { id: challenge.id }
    },
  },

  'challenges.parse': {
    errorType: 'parse_error',
    run(input) {
      if (!isPlainObject(input) || !Array.isArray(input.headers)) {
        throw new TypeError('input.headers must be an array of strings')
      }
      const challenges = []
      for (const field of input.headers) {
        if (!isString(field)) throw new TypeError('input.headers must be an array of strings')
        let list
        try {
          list = Challenge.deserializeList(field)
        } catch (error) {
          // mppx's way of saying that a field holds no Payment challenge.
          if (error instanceof Error && error.message === 'No Payment schemes found.') continue
          throw error
        }
        // mppx fails the whole list when one challenge is invalid, so there
        // is never an {"error": code} entry to report in place.
        for (const challenge of list) challenges.push(toAbiChallenge(challenge))
      }
      return { challenges }
    },
  },

  'accept_payment.parse': {
    errorType: 'parse_error',
    run(input) {
      const entries = AcceptPayment.parse(requireString(input, 'header'))
      return {
        ranges: entries.map(({ method, intent, q }) => ({ method, intent, q })),
      }
    },
  },

  'accept_payment.select': {
    errorType: 'unknown_error',
    run(input) {
      if (!isPlainObject(input) || !Array.isArray(input.offers)) {
        throw new TypeError('input.offers must be an array')
      }
      const offers = input.offers.map((offer) => ({ method: offer?.method, intent: offer?.intent }))
      const all = offers.map((_, index) => index)
      const header = input.header
      // As mppx's server (dist/server/Mppx.js): no header, a header that
      // does not parse, or no offer left after ranking: every offer, in
      // the server's order.
      if (header === null || header === undefined || header === '') return { order: all }
      let ranked
      try {
        ranked = AcceptPayment.rank(offers, AcceptPayment.parse(header))
      } catch (error) {
        console.error(`adapter.mjs: Accept-Payment ignored: ${error?.message ?? error}`)
        return { order: all }
      }
      if (ranked.length === 0) return { order: all }
      return { order: ranked.map((offer) => offers.indexOf(offer)) }
    },
  },
}

// The x-payment-info offers mppx reads, in the ABI's shape: the draft's
// members only (mppx keeps others, which the ABI has no place for).
ops['payment_info.parse'] = {
  errorType: 'parse_error',
  run(input) {
    const value = JSON.parse(requireString(input, 'text'))
    const info = PaymentInfo.parse(value)
    const form = isPlainObject(value) && 'offers' in value ? 'offers' : 'shorthand'
    const offers = info.offers.map((offer) => {
      const out = {}
      for (const key of ['intent', 'method', 'amount', 'currency', 'description']) {
        if (offer[key] !== undefined) out[key] = offer[key]
      }
      return out
    })
    return { form, offers }
  },
}

// draft-payment-transport-mcp-00: a JSON-RPC message's payment members.
ops['mcp.payment_required.parse'] = {
  errorType: 'parse_error',
  run(input) {
    const message = JSON.parse(requireString(input, 'text'))
    const error = message?.error
    if (!McpClient.isPaymentRequiredError(error)) {
      throw new TypeError('not a payment-required error (McpClient.isPaymentRequiredError)')
    }
    const out = { code: error.code, challenges: error.data.challenges }
    for (const key of ['httpStatus', 'problem', 'failure']) {
      if (error.data[key] !== undefined) out[key] = error.data[key]
    }
    return out
  },
}

ops['mcp.credential.parse'] = {
  errorType: 'parse_error',
  run(input) {
    const message = JSON.parse(requireString(input, 'text'))
    const value = message?.params?._meta?.['org.paymentauth/credential']
    if (value === undefined) return { credential: null }
    const parsed = McpCredential.parse(value)
    if (!parsed) throw new TypeError('invalid credential (mppx: InvalidCredentialEncodingError)')
    const { challenge, payload, source } = parsed.value
    const echoed = {}
    for (const key of ['id', 'realm', 'method', 'intent', 'request', 'expires', 'description']) {
      if (challenge[key] !== undefined) echoed[key] = challenge[key]
    }
    return {
      credential: { placement: 'nested', challenge: echoed, payload, source: source ?? null },
    }
  },
}

// draft-tempo-session-00: the channel id a session's payer and server
// compute (v1: the escrow's computeChannelId; v2: the descriptor's).
ops['session.channel_id'] = {
  errorType: 'unknown_error',
  run(input) {
    const protocol = requireString(input, 'protocol')
    const common = {
      payer: requireString(input, 'payer'),
      payee: requireString(input, 'payee'),
      token: requireString(input, 'token'),
      salt: requireString(input, 'salt'),
      authorizedSigner: requireString(input, 'authorizedSigner'),
      chainId: input.chainId,
    }
    if (protocol === 'v1') {
      return {
        channelId: LegacyChannel.computeId({
          ...common,
          escrowContract: requireString(input, 'escrowContract'),
        }).toLowerCase(),
      }
    }
    if (protocol === 'v2') {
      return {
        channelId: PrecompileChannel.computeId({
          ...common,
          operator: requireString(input, 'operator'),
          expiringNonceHash: requireString(input, 'expiringNonceHash'),
          escrow: requireString(input, 'escrowContract'),
        }).toLowerCase(),
      }
    }
    throw new TypeError(`protocol ${JSON.stringify(protocol)} is neither v1 nor v2`)
  },
}

// draft-evm-charge-00: keccak256 of the challenge id and realm, the
// Permit2 witness's challengeHash and the EIP-3009 nonce.
ops['evm.challenge_hash'] = {
  errorType: 'unknown_error',
  run(input) {
    return {
      challengeHash: EvmTypes.challengeHash({
        id: requireString(input, 'id'),
        realm: requireString(input, 'realm'),
      }).toLowerCase(),
    }
  },
}

function failure(type, message) {
  return { ok: false, error: { type, message } }
}

function messageOf(error) {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  try {
    return String(error)
  } catch {
    return 'unprintable error'
  }
}

function answer(line) {
  let request
  try {
    request = JSON.parse(line)
  } catch (error) {
    return failure('unknown_error', `the request is not JSON: ${messageOf(error)}`)
  }
  if (!isPlainObject(request)) return failure('unknown_error', 'the request is not a JSON object')
  if (request.schema !== undefined && request.schema !== 1) {
    return failure('unknown_error', `unsupported request schema: ${JSON.stringify(request.schema)}`)
  }
  const op = Object.hasOwn(ops, request.op) ? ops[request.op] : undefined
  if (!op) {
    return failure('unsupported_operation', `mppx adapter does not implement ${JSON.stringify(request.op)}`)
  }
  try {
    return { ok: true, value: op.run(request.input) }
  } catch (error) {
    return failure(op.errorType, messageOf(error))
  }
}

function respond(line) {
  let text
  try {
    text = JSON.stringify(answer(line))
  } catch (error) {
    text = JSON.stringify(failure('unknown_error', `the answer is not serializable: ${messageOf(error)}`))
  }
  process.stdout.write(`${text}\n`)
}

// Lines are split on "\n" only: U+2028/U+2029 may appear raw inside JSON
// strings and must not end a request.
const decoder = new StringDecoder('utf8')
let buffered = ''

function drain() {
  const lines = buffered.split('\n')
  buffered = lines.pop()
  for (let line of lines) {
    if (line.endsWith('\r')) line = line.slice(0, -1)
    if (line.trim() === '') continue
    respond(line)
  }
}

process.stdin.on('data', (chunk) => {
  buffered += decoder.write(chunk)
  drain()
})

process.stdin.on('end', () => {
  buffered += decoder.end()
  drain()
  if (buffered.trim() !== '') respond(buffered)
  buffered = ''
})

process.on('uncaughtException', (error) => {
  console.error('adapter.mjs: uncaught exception:', error)
})
