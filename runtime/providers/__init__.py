"""The providers a run talks to: which adapter, which key, which endpoint.

``Providers`` builds one adapter per provider on first use. Keys come from the
environment, or else from a `.env` file next to the pipeline (keyfile.py) —
never from the .octo file or the run directory; a run that needs a key that is
not set stops before anything is sent, naming the variable.
Base URLs come from the SDKs' usual variables (``OPENAI_BASE_URL``,
``ANTHROPIC_BASE_URL``, ``GOOGLE_GEMINI_BASE_URL``), so a proxy or a standalone
``octoc emulator`` can stand in for a provider. With ``emulator_url`` every
adapter keeps its own SDK and wire format but talks to the in-process emulator,
with a placeholder key.
"""

from __future__ import annotations

import importlib
import os

from .base import Adapter, ProviderError, register_secret
from .keyfile import file_key, where_to_set

KEY_ENV = {"openai": ("OPENAI_API_KEY",), "anthropic": ("ANTHROPIC_API_KEY",),
           "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
_MODULES = {"openai": ("openai", "OpenAIAdapter"), "anthropic": ("anthropic", "AnthropicAdapter"),
            "gemini": ("gemini", "GeminiAdapter")}
BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL", "gemini": "GOOGLE_GEMINI_BASE_URL"}
EMULATOR_KEY = "emulator-key"


def key_of(provider: str) -> str | None:
    """The provider's key: from the environment (any of its names), else from the key file."""
    names = KEY_ENV.get(provider, ())
    return next((os.environ[n] for n in names if os.environ.get(n)), None) or next(
        (file_key(n) for n in names if file_key(n)), None)


def missing_keys(providers: set[str]) -> list[str]:
    """A message per provider whose API key is not set."""
    out = []
    for provider in sorted(providers):
        if provider in KEY_ENV and key_of(provider) is None:
            names = " or ".join(KEY_ENV[provider])
            out.append(f"{provider}: no API key — {where_to_set(names)} "
                       f"(or try the pipeline for $0 with --provider emulator)")
    return out


def adapter_class(provider: str):
    module, name = _MODULES[provider]
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


class Providers:
    def __init__(self, emulator_url: str | None = None, options: dict | None = None):
        self.emulator_url = emulator_url
        self.options = options or {}   # per provider: extra adapter options
        self._adapters: dict[str, Adapter] = {}

    @property
    def emulated(self) -> bool:
        return self.emulator_url is not None

    def adapter(self, provider: str) -> Adapter:
        if provider not in self._adapters:
            if provider not in _MODULES:
                raise ProviderError(f"unknown provider '{provider}' (known: {', '.join(sorted(_MODULES))})")
            self._adapters[provider] = self._build(provider)
        return self._adapters[provider]

    def _build(self, provider: str) -> Adapter:
        cls = adapter_class(provider)
        options = dict(self.options.get(provider, {}))
        if self.emulator_url is not None:
            base = f"{self.emulator_url}/v1" if provider == "openai" else self.emulator_url
            return cls(EMULATOR_KEY, base_url=base, **options)
        key = key_of(provider)
        if key is None:
            raise ProviderError(missing_keys({provider})[0])
        register_secret(key)
        return cls(key, base_url=os.environ.get(BASE_URL_ENV[provider]) or None, **options)
