"""The anthropic wire format of the emulator (being written)."""

from __future__ import annotations

from .server import HttpReply  # noqa: F401

PROVIDER = "anthropic"
ROUTES: list = []


def key_of(call) -> str | None:
    return None


def error_reply(status: int, message: str) -> HttpReply:
    return HttpReply(status, {"error": {"message": message}})
