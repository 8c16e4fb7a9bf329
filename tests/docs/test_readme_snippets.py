"""The README parser of test_readme_examples: fences, comments, continuations, inline commands, line numbers."""

from __future__ import annotations

from tests.docs.readme_snippets import is_command, parse, strip_comment

DOC = """# title
Run `deltamem list
--user x` or `DELTAMEM_HOME=/tmp/h deltamem log -u x`; options such as `--db FILE` are prose.

## Shell

```bash
deltamem add "a # not a comment" --user x   # a comment
# a whole-line comment

deltamem search "q" \\
    --user x
```

```
session → agent   (a diagram: not code)
```

## Code

```python
x = 1
```

```toml
top_k = 3
```

```yaml
a: 1
```
"""


def test_snippets_in_order_with_sections_and_lines() -> None:
    got = [(s.kind, s.line, s.section, s.text) for s in parse(DOC)]
    assert got == [
        ("inline", 2, "(top)", "deltamem list --user x"),
        ("inline", 3, "(top)", "DELTAMEM_HOME=/tmp/h deltamem log -u x"),
        ("shell", 8, "Shell", 'deltamem add "a # not a comment" --user x'),
        ("shell", 11, "Shell", 'deltamem search "q" --user x'),
        ("python", 22, "Code", "x = 1"),
        ("toml", 26, "Code", "top_k = 3"),
        ("unknown", 30, "Code", "a: 1"),
    ]


def test_strip_comment_respects_quotes() -> None:
    assert strip_comment("echo 'a # b' # c") == "echo 'a # b'"
    assert strip_comment("echo a#b") == "echo a#b"
    assert strip_comment("# all") == ""


def test_inline_commands_are_recognised_by_their_first_word() -> None:
    assert is_command("deltamem serve") and is_command("A=1 B=2 pip install x")
    assert not is_command("--db FILE") and not is_command("m1, m2") and not is_command("X=1")
