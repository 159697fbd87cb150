"""Calls one paid MCP tool with pympp's McpClient (mpp.extensions.mcp,
draft-payment-transport-mcp-00) over the MCP SDK's Streamable HTTP client,
as pympp documents it, for mppconf's MCP client suite.

Usage: python mcp_client.py OPERATION NAME URL
  OPERATION  `tool` (pympp's McpClient wraps call_tool only)
  NAME       the tool's name
  URL        the MCP endpoint
Environment:
  RPC_URL    JSON-RPC endpoint of the Tempo chain
  CHAIN_ID   the chain this client pays on (anvil: 31337)
  PAYER_KEY  0x-prefixed private key of the paying account

stdout: `result <tool result content>` and `receipt <receipt or ->`.
Exit status: 0 on a result, 1 on a JSON-RPC error answer, 2 on a usage or
payment error (printed on stderr).
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError
from mpp.extensions.mcp import McpClient
from mpp.methods.tempo import TempoAccount
from mpp.methods.tempo import client as tempo


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if value == "":
        print(f"mcp_client.py: the environment variable {name} is required", file=sys.stderr)
        sys.exit(2)
    return value


async def main() -> int:
    if len(sys.argv) != 4 or not sys.argv[3].startswith(("http://", "https://")):
        print("usage: python mcp_client.py OPERATION NAME URL", file=sys.stderr)
        return 2
    operation, name, url = sys.argv[1:]
    if operation != "tool":
        print(
            f"mcp_client.py: pympp's McpClient pays tool calls only, not {operation}",
            file=sys.stderr,
        )
        return 2
    method = tempo.charge(
        account=TempoAccount.from_key(required("PAYER_KEY")),
        chain_id=int(required("CHAIN_ID")),
        rpc_url=required("RPC_URL"),
    )
    try:
        async with streamable_http_client(url) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                client = McpClient(session, methods=[method])
                result = await client.call_tool(name, {})
    except McpError as error:
        print(f"mcp_client.py: error answer: {error!r}", file=sys.stderr)
        return 1
    except BaseException as error:  # noqa: BLE001 - any failure is the outcome
        print(f"mcp_client.py: the call failed: {error!r}", file=sys.stderr)
        return 2
    print(f"result {result.content!r}")
    print(f"receipt {result.receipt!r}" if result.receipt else "receipt -")
    return 0


sys.exit(asyncio.run(main()))
