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
PLAN_VERSION = 3  # 2: `waits_for` on every step and the plan's `loops` (retry loops over subgraphs);
# 3: a step's `unique_by`, the plan's `export_file`, private compute values — an octoc that read 3 as 2 would
# ignore them and run the plan wrongly, so 3 is refused by older octocs; a plan of version 2 has none of them and
# reads as it always did.
READABLE_PLAN_VERSIONS = (2, 3)


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
        if data.get("version") not in READABLE_PLAN_VERSIONS:
            raise PlanFormatError(f"plan version {data.get('version')} is not supported "
                                  f"(this octo reads {_versions()})")
        return cls(data)


def _versions() -> str:
    return " and ".join(str(v) for v in READABLE_PLAN_VERSIONS)
