"""The Plan IR: everything the runtime needs, as pure, versioned JSON data.

A Plan is built by ``octo.compiler.planning.planner`` from a checked program. It holds
compiled step configs (expressions as AST records, templates as text with
their positions), each output's JSON Schema, the units spec and the data rows
it draws from, seeds, the models and the prices used, the DAG, and the cost
estimates. The runtime reads nothing else: never the YAML, never the parser.
The shape is documented in docs/plan.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PLAN_FORMAT = "octo-plan"
PLAN_VERSION = 2  # 2: `waits_for` on every step and the plan's `loops` (retry loops over subgraphs)


class PlanFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Plan:
    data: dict[str, Any]

    @property
    def steps(self) -> list[dict]:
        return self.data["steps"]

    def step(self, name: str) -> dict:
        return next(s for s in self.steps if s["name"] == name)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.data, indent=indent, ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise PlanFormatError(f"not an octo plan (invalid JSON at line {err.lineno}: {err.msg})") from None
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise PlanFormatError("not an octo plan")
        if data.get("version") != PLAN_VERSION:
            raise PlanFormatError(f"plan version {data.get('version')} is not supported (this octo reads {PLAN_VERSION})")
        return cls(data)
