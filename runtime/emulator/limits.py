"""The size and count limits the emulator enforces, as each provider measures them on the wire.

Defaults are the providers' own (read as the smaller number where a limit says
"MB": 200 MB is 200,000,000 bytes, not 200 MiB); sources are in
docs/providers.md ("Limits and rules"). A test can lower any of them —
``Emulator(limits=Limits(gemini_inline_bytes=2_000))`` — to reach a limit
without building a 20 MB request; raising them above the real values is
refused, so the emulator is never laxer than the service.

| limit | measured on | refusal |
|---|---|---|
| ``openai_file_bytes`` | the uploaded file (``purpose=batch``) | 400 ``File is too large.`` at upload |
| ``openai_batch_requests`` | lines of the input file | the batch ``failed``, ``errors.data[].code = too_many_tasks`` |
| ``anthropic_batch_bytes`` | the ``POST /v1/messages/batches`` body | 413 ``request_too_large`` |
| ``anthropic_batch_requests`` | ``requests`` of that body | 400 ``invalid_request_error`` |
| ``anthropic_message_bytes`` | the ``POST /v1/messages`` body | 413 ``request_too_large`` |
| ``gemini_inline_bytes`` | the ``batchGenerateContent`` body | 400 ``INVALID_ARGUMENT`` (request payload size) |
| ``gemini_file_bytes`` | an uploaded file | 400 ``INVALID_ARGUMENT`` |
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    openai_file_bytes: int = 200_000_000
    openai_batch_requests: int = 50_000
    anthropic_batch_bytes: int = 256_000_000
    anthropic_batch_requests: int = 100_000
    anthropic_message_bytes: int = 32_000_000
    gemini_inline_bytes: int = 20_000_000
    gemini_file_bytes: int = 2_000_000_000

    def __post_init__(self):
        for limit in fields(self):
            value = getattr(self, limit.name)
            if not isinstance(value, int) or not 0 < value <= limit.default:
                raise ValueError(f"emulator limit {limit.name} must be a whole number from 1 to "
                                 f"{limit.default:,} (the provider's own), not {value!r}")
