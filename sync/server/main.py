"""The ASGI application built from the environment: what uvicorn imports (`sync.server.main:app`)."""

from sync.server.app import create_app

app = create_app()
