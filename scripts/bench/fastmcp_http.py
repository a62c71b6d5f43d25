"""The peer for scripts/bench-http: FastMCP's own `add` tool over Streamable HTTP.

Usage: fastmcp_http.py PORT. Stateless with JSON responses, FastMCP's fastest
HTTP configuration, so the comparison is with FastMCP at its best.
"""
import sys

from fastmcp import FastMCP

mcp = FastMCP("fastmcp-add")


@mcp.tool
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


if __name__ == "__main__":
    mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[1]), stateless_http=True, json_response=True,
            show_banner=False, log_level="warning")
