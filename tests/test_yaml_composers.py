"""The loader reads YAML with libyaml where libyaml reads it as PyYAML's pure-Python parser does
(issue 14, startup: a few milliseconds of every `octoc check`), and with the pure-Python parser
everywhere else. Here both composers read every example, every invalid program and tricky YAML,
and the nodes `compose` returns must equal the pure-Python parser's: tags, values, styles and every
position (index, line, column) of every node."""

import random
from pathlib import Path

import pytest
import yaml

from octo.compiler.frontend import loader

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted({*ROOT.glob("examples/**/*.octo"), *ROOT.glob("examples/**/*.yaml"),
                 *ROOT.glob("tests/invalid/*.octo"), *ROOT.glob("docs/**/*.octo")})

TRICKY = {
    "anchors": "base: &b {model: 'openai:x', mode: batch}\nsteps:\n  a: *b\n  b:\n    <<: *b\n    mode: realtime\n",
    "nested anchors": "x: &x [1, &y {a: 2}]\ny: *x\nz: *y\n",
    "literal blocks": "a: |\n  one\n\n  two\n\n\nb: |-\n  kept\nc: |+\n  kept too\n\nd: |2\n    indented\n",
    "folded blocks": "a: >\n  one\n  two\n\n  three\nb: >-\n  x\n  y\n",
    "multi-line plain": "a: one\n  two\n   three\nb: - not a list\n",
    "multi-line quoted": "a: \"one\n  two\\\n  three\"\nb: 'it''s\n\n  there'\n",
    "flow": "a: {x: 1, y: [2, 3, {z: 4}]}\nb: [a, 'b', \"c\", {d: e}]\nc: {}\nd: []\n",
    "flow question mark": "a: {x: why?}\nb: [x?y, z]\nc: {? k : v}\n",
    "flow colons": "a: [x:, y]\nb: {k: v:}\nc: [http://example.com, a:b]\n",
    "tabs": "a:\tb\nc: [1,\t2]\nd: \"x\ty\"\n",
    "tab indentation": "a:\n\tb: 1\n",
    "bom": "\ufeffa: 1\nb: 2\n",
    "bom inside": "a: x\ufeffy\n",
    "crlf": "a: 1\r\nb:\r\n  - x\r\n  - y\r\nc: |\r\n  l1\r\n  l2\r\n",
    "cr only": "a: 1\rb: 2\r",
    "unicode line breaks": "a: x\u2028y\nb: p\u2029q\nc: n\x85m\n",
    "wide characters": "名前: 値\nemoji: \"🙂 ok\"\nk: [🐙, 🦑]\nz: ok\n",
    "comments": "# top\na: 1  # one\n# between\nb: [1, # in flow\n  2]\n",
    "documents": "---\na: 1\n...\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "directive": "%YAML 1.1\n---\na: 1\n",
    "tags": "a: !!str 1\nb: !!int '2'\nc: ! x\nd: !custom y\n",
    "complex key": "? a\n: b\n? [x, y]\n: z\n",
    "empty values": "a:\nb: ~\nc: null\nd: ''\ne:\n  -\n  - ''\n",
    "scalars": "i: 12\nf: 1.5e3\nb: yes\nn: .nan\ninf: -.inf\nhex: 0x1f\nt: 2026-12-02\n",
    "empty": "",
    "only comments": "# nothing\n",
    "plain document": "just text\n",
    "sequence root": "- a\n- b: 1\n  c: 2\n-   - nested\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "unclosed quote": "a: \"x\nb: 2\n",
    "unclosed flow": "a: [1, 2\nb: 3\n",
    "quoted then text": "a: 'ship' if x else 'water'\n",
    "duplicate anchor": "a: &x 1\nb: &x 2\n",
    "undefined alias": "a: *nope\n",
    "alias in own anchor": "a: &x [1, *x]\n",
    "control character": "a: x\x07y\n",
    "trailing spaces": "a: x   \nb:   \n  - y  \n",
    "long key": "k" * 1100 + ": v\n",
    "template in plain": "p: {{ unit.x }}\n",
}


def shape(node):
    """Every node of ``node``, depth first: kind, tag, value, style and both marks in full."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if n is None:
            out.append(None)
            continue
        marks = tuple((m.index, m.line, m.column) for m in (n.start_mark, n.end_mark))
        if isinstance(n, yaml.ScalarNode):
            out.append(("scalar", n.tag, n.value, n.style or None, marks))
        else:
            out.append((type(n).__name__, n.tag, bool(n.flow_style), len(n.value), marks))
            children = [c for item in n.value for c in (item if isinstance(item, tuple) else (item,))]
            stack.extend(reversed(children))
    return out


def outcome(compose, text):
    try:
        return "ok", shape(compose(text))
    except loader._Refused as refused:
        return "refused", refused.code, refused.mark.index
    except yaml.YAMLError as err:
        return "error", type(err).__name__, str(err)


def pure(text):
    return loader._compose_with(yaml.SafeLoader, text)


def _random_document(rng: random.Random) -> str:
    words = ["a", "b c", "x?y", "k: v", "- d", "#e", "{f}", "[g]", "'h'", '"i"', "1.5", "yes", "null", "名", "🙂",
             "line\nbreak", " lead", "trail ", "", "x:y", "p, q", "&a", "*b", "!t", "%", "@", "`"]

    def value(depth):
        roll = rng.random()
        if depth > 3 or roll < 0.4:
            return rng.choice(words + [rng.randint(-5, 10**6), rng.random(), True, None])
        if roll < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(words) or "k": value(depth + 1) for _ in range(rng.randint(0, 4))}

    return yaml.safe_dump(value(0), default_flow_style=rng.choice([None, True, False]), width=rng.choice([20, 80, 1000]),
                          allow_unicode=rng.random() < 0.5, default_style=rng.choice([None, None, "'", '"', "|"]),
                          indent=rng.choice([2, 4]))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_and_invalid_program_composes_as_the_pure_python_parser_does(path):
    text = path.read_bytes().decode("utf-8", "replace")
    assert outcome(loader.compose, text) == outcome(pure, text)


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_yaml_composes_as_the_pure_python_parser_does(name):
    text = TRICKY[name]
    assert outcome(loader.compose, text) == outcome(pure, text)


def test_random_documents_compose_as_the_pure_python_parser_does():
    rng = random.Random(14)
    for _ in range(400):
        text = _random_document(rng)
        assert outcome(loader.compose, text) == outcome(pure, text), text


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_libyaml_reads_the_examples_and_its_nodes_equal_the_pure_python_parsers():
    # not a vacuous comparison: libyaml itself composes the examples, with the same nodes
    read = 0
    for path in CORPUS:
        text = path.read_bytes().decode("utf-8", "replace")
        if not loader._libyaml_reads_alike(text) or outcome(pure, text)[0] != "ok":
            continue
        fast = loader._compose_with(yaml.CSafeLoader, text)
        if loader._flow_difference(fast, text):
            continue
        assert shape(fast) == shape(pure(text)), path
        read += 1
    assert read >= 0.8 * len([p for p in CORPUS if p.suffix == ".octo" and "invalid" not in p.parts])
