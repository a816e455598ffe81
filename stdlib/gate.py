"""`gate`: a local verdict on an upstream provider step.

A gate's `pass` is an expression over the unit, the data and upstream steps,
evaluated locally per unit; when it is false and the loop has rounds left, the
gate sends its loop back (the step `of` and every step on a path from it to the
gate), with its rendered `message` as the `feedback` the next round sees. On
the last round it stores `passed: false` and the unit goes on, as a judge's
final failed verdict does. Sending back is the runtime's (runtime/work/loops.py);
this module computes the verdict.
"""

from __future__ import annotations

from octo.compiler.base.records import record_class
from octo.compiler.base.yamlnodes import YMap, YScalar
from octo.compiler.expressions.evalerror import EvalError
from octo.compiler.expressions.types import BOOL, STR, RecordT, Type, optional, record
from octo.compiler.frontend.kinds import StepContext, StepKind, expr_ir, template_ir
from octo.compiler.frontend.language import EXPR, TEMPLATE
from octo.compiler.frontend.program import Step

from .judge import ATTEMPTS, check_target, depend_on_target, verdict_settings

PASSED, MESSAGE = "passed", "message"


@record_class
class GateConfig:
    of: str | None
    of_node: YScalar | None
    passes: object  # the `pass` expression
    message: YScalar | None
    attempts: int


class Gate(StepKind):
    name = "gate"
    runs = "local"
    verdict = True
    summary = "A local verdict on an upstream provider step (of): a false pass re-runs its loop, up to attempts."
    settings = frozenset()
    config_schema = {
        "type": "object",
        "required": ["of", "pass"],
        "additionalProperties": False,
        "properties": {
            "of": {"type": "string", "description": "The provider step sent back when `pass` is false."},
            "pass": {**EXPR, "description": "A bool over the unit, the data and upstream steps; false sends `of` back."},
            "message": {**TEMPLATE, "description": "Why it failed (a template): `feedback.message` in the next round."},
            "attempts": ATTEMPTS,
        },
    }

    def parse(self, step: Step, ctx: StepContext) -> None:
        cfg = step.config if isinstance(step.config, YMap) else YMap(step.config.span)
        of, of_node, attempts = verdict_settings(cfg)
        step.parsed = GateConfig(of, of_node, ctx.expr(cfg.get("pass"), "`pass`"),
                                 ctx.template(cfg.get("message")),
                                 attempts)
        step.output = record({PASSED: BOOL, MESSAGE: optional(STR)}, f"step '{step.name}'")
        depend_on_target(step, ctx, of, of_node)

    def typecheck(self, step: Step, ctx: StepContext) -> RecordT | None:
        cfg: GateConfig = step.parsed
        check_target(step, ctx, "gate", "checks",
                     local_hint="a gate sends a generate step back; check a local step with `validate`")
        ctx.check_bool(cfg.passes, ctx.scope(), "`pass`")
        ctx.check_template(cfg.message, ctx.scope())
        return step.output

    def plan_config(self, step: Step) -> dict:
        cfg: GateConfig = step.parsed
        return {"of": cfg.of, "pass": expr_ir(cfg.passes), "message": template_ir(cfg.message), "attempts": cfg.attempts}

    def feedback_fields(self, step: Step) -> dict[str, Type]:
        return {MESSAGE: STR}  # feedback exists only when the gate failed, and then it has its message

    def executor(self, config: dict, functions, template):
        """(env, rng) → {passed, message}; ``template`` compiles a Plan template record (runtime/work/templating)."""
        from .execution import compiled  # the evaluation side: imported only by what runs steps, never by `check`
        passes = compiled(config["pass"], functions)
        message = template(config["message"]) if config.get("message") else None
        default = f"the check `{config['pass']['text']}` failed"

        def run(env, rng) -> dict:
            if passes.evaluate(env, rng):
                return {PASSED: True, MESSAGE: None}
            if message is None:
                return {PASSED: False, MESSAGE: default}
            try:
                return {PASSED: False, MESSAGE: message.render(env).strip()}
            except Exception as err:  # TemplateFailure: its text says what and where (file:line:col)
                raise EvalError(f"the message did not render: {err}") from None

        run.random = passes.random
        return run


KIND = Gate()
