"""The responders' console: server-rendered pages over the HTTP API's own routes.

Pages work with JavaScript off. Every read and action goes through the same route functions
the API serves (and so the same incident service), as the person a console session holds,
re-checked on every request. docs/console.md describes the pages and their security.
"""

from sopflow.web.router import console_router
from sopflow.web.security import PREFIX as CONSOLE_PREFIX
from sopflow.web.settings import ConsoleSettings

__all__ = ["CONSOLE_PREFIX", "ConsoleSettings", "console_router"]
