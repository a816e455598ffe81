"""The offline token estimate follows its documented rule."""

from octo.compiler.planning.tokens import count_tokens


def test_letters_digits_and_symbols():
    assert count_tokens("") == 0
    assert count_tokens("the cat") == 2
    assert count_tokens("internationalization") == 4  # 20 letters, 6 per token
    assert count_tokens("12345") == 2  # 123 45
    assert count_tokens("a, b.") == 4
    assert count_tokens("{{ }}") == 2


def test_estimate_grows_with_text():
    short = count_tokens("Write a two-line sea shanty verse about it.")
    assert 8 <= short <= 14
    assert count_tokens("word " * 100) == 100
