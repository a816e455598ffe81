"""`judge`: an LLM verdict on an upstream provider step; a failed `pass` re-runs its loop (that step and
every step on a path from it to the judge)."""

from __future__ import annotations

from octo.compiler.base.records import record_class
from octo.compiler.base.suggest import did_you_mean
from octo.compiler.base.yamlnodes import YMap, YScalar
from octo.compiler.expressions.scope import Binding
from octo.compiler.expressions.types import BOOL, RecordT
from octo.compiler.frontend.kinds import StepContext, StepKind, expr_ir
from octo.compiler.frontend.language import EXPR, TEMPLATE
from octo.compiler.frontend.program import Step

from .generate import PROVIDER_SETTINGS, declare_output, provider_config

PASSED = "passed"  # added to every judge's outputs: did the final verdict pass?


@record_class
class JudgeConfig:
    of: str | None
    of_node: YScalar | None
    prompt: YScalar | None
    system: YScalar | None
    passes: object  # the `pass` expression, or None (always passes)
    attempts: int


ATTEMPTS = {"type": "integer", "minimum": 1, "maximum": 20,
            "description": "Tries of `of` in all, the first included (default 1)."}


def verdict_settings(cfg: YMap) -> tuple[str | None, YScalar | None, int]:
    """A verdict step's (`of`, its node, `attempts`): what judge and gate share; bad values are the schema's to report."""
    of_node = cfg.get("of")
    of = of_node.value if isinstance(of_node, YScalar) and of_node.is_str else None
    attempts = cfg.get("attempts")
    return of, of_node if of else None, attempts.value if isinstance(attempts, YScalar) and isinstance(attempts.value, int) else 1


def depend_on_target(step: Step, ctx: StepContext, of: str | None, of_node: YScalar | None) -> None:
    """A verdict reads the step it may send back, and is one of that step's verdicts."""
    if of in ctx.program.steps and of != step.name:
        step.deps[of] = of_node.span
        ctx.program.judges.setdefault(of, []).append(step.name)


class Judge(StepKind):
    name = "judge"
    runs = "provider"
    verdict = True  # a failed `pass` sends its loop back (compiler/frontend/loops.py, runtime/work/loops.py)
    summary = "An LLM verdict on an upstream provider step (of); a failed pass re-runs that step, up to attempts."
    settings = frozenset({"model", "mode", "output", "retries"})
    config_schema = {
        "type": "object",
        "required": ["of", "prompt"],
        "additionalProperties": False,
        "properties": {
            **PROVIDER_SETTINGS,
            "of": {"type": "string", "description": "The step being judged."},
            "prompt": {**TEMPLATE, "description": "The judge's prompt (a template)."},
            "pass": {**EXPR, "description": "A bool over the judge's outputs; false re-runs `of` for the unit."},
            "attempts": ATTEMPTS,
        },
    }

    def parse(self, step: Step, ctx: StepContext) -> None:
        cfg = step.config if isinstance(step.config, YMap) else YMap(step.config.span)
        of, of_node, attempts = verdict_settings(cfg)
        declare_output(step, ctx, cfg, extra={PASSED: BOOL})
        step.parsed = JudgeConfig(of, of_node, ctx.template(cfg.get("prompt")),
                                  ctx.template(cfg.get("system")), None,
                                  attempts)
        step.local_names = set(step.output.names()) if step.output else set()
        depend_on_target(step, ctx, of, of_node)
        if cfg.get("pass") is not None:
            step.parsed.passes = ctx.expr(cfg.get("pass"), "`pass`")

    def typecheck(self, step: Step, ctx: StepContext) -> RecordT | None:
        cfg: JudgeConfig = step.parsed
        self._check_target(step, ctx)
        scope = ctx.scope(ctx.feedback_binding(step))
        ctx.check_template(cfg.prompt, scope)
        ctx.check_template(cfg.system, scope)
        if cfg.passes is not None and step.output is not None:
            own = {n: Binding(t, f"output '{n}'") for n, t in step.output.fields if n != PASSED}
            ctx.check_bool(cfg.passes, ctx.scope(own), "`pass`")
        return step.output

    def plan_config(self, step: Step) -> dict:
        cfg: JudgeConfig = step.parsed
        return {**provider_config(step, cfg.prompt, cfg.system), "of": cfg.of, "pass": expr_ir(cfg.passes),
                "attempts": cfg.attempts}

    def _check_target(self, step: Step, ctx: StepContext) -> None:
        check_target(step, ctx, "judge", "judges")


def check_target(step: Step, ctx: StepContext, noun: str, verb: str,
                 local_hint: str = "judge a generate step; check local results with `validate` or an aggregate's `expect`") -> None:
    """E0302 unless a verdict's `of` names a provider step other than itself (shared with `gate`)."""
    of, of_node = step.parsed.of, step.parsed.of_node
    if of_node is None:
        return
    steps = ctx.program.steps
    if of == step.name:
        ctx.reporter.report("E0302", of_node.span, f"{noun} '{step.name}' cannot {verb.rstrip('s')} itself")
        return
    if of not in steps:
        providers = [n for n, s in steps.items() if ctx.language.kinds[s.kind].runs == "provider" and n != step.name]
        ctx.reporter.report("E0302", of_node.span, f"{noun} '{step.name}' {verb} '{of}', which is not a step",
                            hint=did_you_mean(of, providers) or f"`of` names the generate step to {verb.rstrip('s')}")
        return
    target = steps[of]
    if ctx.language.kinds[target.kind].runs != "provider":
        ctx.reporter.report("E0302", of_node.span,
                            f"{noun} '{step.name}' {verb} '{of}', a {target.kind} step; only provider steps can be re-run on a failed verdict",
                            hint=local_hint)


KIND = Judge()
