"""Write documents.jsonl: 5,000 short customer messages for examples/classify_documents.octo.

Deterministic (a fixed seed), so the file in the repository is exactly what this script writes:

    python examples/data/make_documents.py

Each line is {"id", "channel", "text"}; some texts carry an order number (ORD-123456), an email
address or a URL, which the example's regex checks find.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

COUNT = 5000
SEED = 13

OPENINGS = ["Hi,", "Hello team,", "Hey there.", "Good morning,", "To whom it may concern:", ""]
BODIES = {
    "billing": ["I was charged twice for {order} this month.", "My invoice shows the wrong amount for {order}.",
                "Please refund the annual plan, I meant to pick monthly.", "Why did my card get billed after I cancelled?"],
    "bug": ["The export button does nothing since the last update.", "The app crashes when I open the reports page.",
            "Search returns no results even for exact titles.", "Order {order} shows as shipped but the page is blank."],
    "feature": ["Could you add a dark mode to the dashboard?", "It would be great to export to PDF as well as CSV.",
                "Please let us schedule reports every Monday.", "We would love keyboard shortcuts for the editor."],
    "praise": ["Your support fixed my problem in minutes, thank you!", "The new editor is fantastic, great work.",
               "Order {order} arrived early and in perfect shape.", "Best tool we have bought this year."],
    "spam": ["Buy cheap followers now at {url}", "You have won a prize, claim it at {url} today",
             "Limited offer!!! Visit {url} for free crypto", "Earn 5000 a week from home, see {url}"],
}
CLOSINGS = ["Thanks.", "Regards, {name}", "Write back to {email}.", "Cheers", "", "Best, {name}"]
NAMES = ["Ana", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ivo", "June"]
CHANNELS = ["email", "chat", "form"]


def document(i: int, rng: random.Random) -> dict:
    label = rng.choice(sorted(BODIES))
    name = rng.choice(NAMES)
    fill = {"order": f"ORD-{rng.randrange(100000, 999999)}", "url": f"http://deals{rng.randrange(10, 99)}.example",
            "name": name, "email": f"{name.lower()}{rng.randrange(1, 99)}@example.com"}
    parts = [rng.choice(OPENINGS), *(rng.choice(BODIES[label]) for _ in range(rng.randint(1, 2))), rng.choice(CLOSINGS)]
    text = " ".join(p.format(**fill) for p in parts if p)
    return {"id": f"doc-{i:04d}", "channel": rng.choice(CHANNELS), "text": text}


def main() -> None:
    rng = random.Random(SEED)
    lines = [json.dumps(document(i, rng)) for i in range(1, COUNT + 1)]
    (Path(__file__).parent / "documents.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
