"""The registry of diagnostic codes.

Every diagnostic octo can emit has a code here, with its severity and a one-line
title; ``docs/diagnostics.md`` documents each (a test keeps the two in step).
Codes are grouped by hundreds:

* ``E00xx`` YAML and files, ``E01xx`` structure, ``E02xx`` expressions, types
  and templates, ``E03xx`` the step graph; ``W04xx`` warnings; ``x05xx`` the plan (budget).
"""

from __future__ import annotations

from enum import Enum

from .records import record_class


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@record_class(frozen=True)
class Code:
    code: str
    severity: Severity
    title: str
    io: bool = False  # an I/O problem: `octoc check` exits 2, not 1


_E, _W = Severity.ERROR, Severity.WARNING

REGISTRY: dict[str, Code] = {
    c.code: c
    for c in [
        # YAML and files
        Code("E0001", _E, "YAML syntax error"),
        Code("E0002", _E, "tab character in indentation"),
        Code("E0003", _E, "duplicate key"),
        Code("E0004", _E, "template written as a plain scalar"),
        Code("E0005", _E, "expression starts with a quote"),
        Code("E0006", _E, "file not found or unreadable", io=True),
        Code("E0007", _E, "data file is malformed"),
        Code("E0008", _E, "file is not a single YAML document"),
        Code("E0009", _E, "value split at a comma by YAML"),
        Code("E0010", _E, "data path outside the pipeline's folder"),
        Code("E0011", _E, "data path is not a regular file"),
        Code("E0012", _E, "data file too large"),
        Code("E0013", _E, "YAML aliases copy too much"),
        Code("E0014", _E, "YAML nested too deeply"),
        # structure
        Code("E0101", _E, "unknown key"),
        Code("E0102", _E, "missing required key"),
        Code("E0103", _E, "wrong kind of value"),
        Code("E0104", _E, "value out of range or not allowed"),
        Code("E0105", _E, "step needs exactly one kind"),
        Code("E0106", _E, "unsupported language version"),
        Code("E0107", _E, "setting given twice"),
        Code("E0108", _E, "invalid data table"),
        Code("E0109", _E, "invalid name"),
        Code("E0110", _E, "number is not finite"),
        Code("E0111", _E, "invalid model name"),
        Code("E0112", _E, "unknown column type"),
        Code("E0113", _E, "declared column not in the data"),
        Code("E0114", _E, "cell does not fit its declared column type"),
        Code("E0115", _E, "invalid export file"),
        Code("E0120", _E, "setting refused by the model"),
        Code("E0121", _E, "max_tokens outside the model's bounds"),
        Code("E0122", _E, "reasoning setting refused by the model"),
        Code("E0123", _E, "thinking budget not below max_tokens"),
        Code("E0124", _E, "model has no structured output"),
        # expressions, types, templates
        Code("E0201", _E, "expression syntax error"),
        Code("E0202", _E, "unknown name"),
        Code("E0203", _E, "unknown field"),
        Code("E0204", _E, "unknown function"),
        Code("E0205", _E, "wrong number of arguments"),
        Code("E0206", _E, "type mismatch"),
        Code("E0207", _E, "condition is not a bool"),
        Code("E0208", _E, "comparison can never be true"),
        Code("E0209", _E, "type syntax error"),
        Code("E0210", _E, "unknown type"),
        Code("E0211", _E, "per-unit value outside an aggregate function"),
        Code("E0212", _E, "aggregate function outside an aggregate step"),
        Code("E0213", _E, "template syntax error"),
        Code("E0214", _E, "unknown template filter"),
        Code("E0215", _E, "assignment to an undeclared state variable"),
        Code("E0216", _E, "invalid range"),
        Code("E0219", _E, "expression nested too deeply"),
        Code("E0220", _E, "template nested too deeply"),
        Code("E0221", _E, "invalid item counts"),
        Code("E0222", _E, "item counts without a list element type"),
        Code("E0223", _E, "invalid regular expression"),
        Code("E0224", _E, "regular expression feature not supported"),
        Code("E0225", _E, "regular expression too large"),
        Code("E0226", _E, "invalid regular expression group"),
        Code("E0230", _E, "invalid string length"),
        Code("E0234", _E, "private compute value read by another step"),
        # the step graph
        Code("E0301", _E, "dependency cycle"),
        Code("E0302", _E, "verdict target is not an upstream provider step"),
        Code("E0303", _E, "aggregate result used per unit"),
        Code("E0304", _E, "invalid unit table"),
        Code("E0305", _E, "steps wait for each other"),
        Code("E0306", _E, "loops overlap"),
        Code("E0308", _E, "step reads two unrelated fan-outs"),
        Code("E0309", _E, "verdict crosses a fan-out"),
        Code("E0310", _E, "invalid fan-out"),
        Code("E0311", _E, "model read from the unit is not a unit path"),
        Code("E0312", _E, "a model read from the unit is not a `provider:model`"),
        Code("E0313", _E, "unique_by on a step without units of its own"),
        Code("E0314", _E, "unique_by on a step in a loop"),
        # warnings
        Code("W0401", _W, "unknown model"),
        Code("W0402", _W, "unused step"),
        Code("W0403", _W, "expression is always the same"),
        Code("W0404", _W, "unused data table"),
        Code("W0405", _W, "value that may be null used without a check"),
        Code("W0406", _W, "verdict reads nothing it sends back"),
        Code("W0407", _W, "fan-out without an upper bound"),
        Code("W0408", _W, "export leaves out which model answered"),
        Code("W0409", _W, "setting ignored by the provider"),
        Code("W0410", _W, "model's capabilities unknown"),
        Code("W0411", _W, "reasoning may use up max_tokens"),
        Code("W0414", _W, "string escape swallowed by a regular expression"),
        Code("W0415", _W, "unique_by key is the same for every unit"),
        # the plan
        Code("E0501", _E, "over budget"),
        Code("W0502", _W, "over budget in the worst case"),
        Code("W0503", _W, "cost unknown"),
        Code("E0504", _E, "`units.where` failed for a unit"),
        Code("E0505", _E, "too many units"),
        Code("E0506", _E, "not enough disk space for the run"),
    ]
}


def lookup(code: str) -> Code:
    return REGISTRY[code]
