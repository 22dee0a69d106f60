"""The baseline of bench/api_create_deployment.py: a bare JSON endpoint on the same ASGI stack (Starlette under
uvicorn, one process), answering what ``appConfig { version }`` answers, without GraphQL, auth or a database."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def graphql(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"data": {"appConfig": {"version": "0.1.0"}}})


app = Starlette(routes=[Route("/v1", graphql, methods=["POST"])])
