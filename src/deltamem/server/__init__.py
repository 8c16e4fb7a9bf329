"""The deltamem HTTP server: ``create_app(config)`` (FastAPI), API keys per tenant, background ingestion jobs."""

from deltamem.server.app import create_app
from deltamem.server.config import ServerConfig, load_server_config

__all__ = ["ServerConfig", "create_app", "load_server_config"]
