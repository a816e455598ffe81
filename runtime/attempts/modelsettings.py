"""What a request to one model carries of its step's sampling and reasoning settings.

The checker refuses a setting a model would refuse (E0120–E0123) and warns about one its provider
ignores (W0409), so a checked plan asks for nothing a model refuses. This is the belt to those braces,
for every model a step may send to (a model read from the unit, `--provider`, a plan made before the
capability table knew better): a setting the table says the model refuses or ignores is left out of
the request, never sent; the reasoning setting becomes what the model takes (an effort word, a thinking
budget, or the budget its provider maps an effort to). A model the table does not know gets the
settings as written.
"""

from __future__ import annotations

from octo.compiler.frontend.capabilities import default_max_tokens, reasoning_to_send, sampling_to_send
from octo.stdlib.capabilities import capability_table


def model_settings(model: str, temperature, sampling: dict, reasoning: dict, max_tokens: int | None = None,
                   structured: bool = True) -> dict:
    """The request fields for ``model`` (``provider:name``): ``max_tokens`` (the step's, else the default with
    room for the model's reasoning) and ``temperature`` (None when not sent) always; ``top_p``, ``seed``,
    ``reasoning_effort``, ``thinking_budget`` only when sent, so a request without them stores as it did
    before they existed."""
    family = capability_table().find(model)
    out = {"max_tokens": max_tokens or default_max_tokens(family, structured, reasoning.get("effort"),
                                                          reasoning.get("budget")),
           "temperature": sampling_to_send(family, "temperature", temperature)}
    for name, value in sampling.items():
        value = sampling_to_send(family, name, value)
        if value is not None:
            out[name] = value
    effort, budget, problems = reasoning_to_send(family, reasoning.get("effort"), reasoning.get("budget"), model)
    if not problems:  # a reasoning setting the model refuses is left out whole (the checker said so: E0122)
        if effort is not None:
            out["reasoning_effort"] = effort
        if budget is not None:
            out["thinking_budget"] = budget
    return out
