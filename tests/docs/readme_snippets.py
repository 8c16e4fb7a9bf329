"""README.md → the code it shows, in order: shell commands, Python blocks, TOML blocks and inline commands.

Pure text handling (no deltamem imports), used by ``test_readme_examples.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["shell", "python", "toml", "inline", "unknown"]

#: Fence languages read as shell (one command a line), as Python, as TOML, and as neither (diagrams, output).
SHELL_LANGS = frozenset({"bash", "sh", "shell", "console"})
PYTHON_LANGS = frozenset({"python", "py"})
TOML_LANGS = frozenset({"toml"})
PROSE_LANGS = frozenset({"", "text"})
#: An inline `code` span in the prose is a command when its first word (after VAR=value assignments) is one of these.
COMMAND_WORDS = frozenset({"deltamem", "bash", "sh", "pip", "python", "python3", "uv", "sha256sum"})

_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")


@dataclass(frozen=True)
class Snippet:
    """One piece of README code: a shell command (one line, comment removed), a whole Python / TOML block, or an
    inline command from the prose. ``line`` is its 1-based line in README.md; ``section`` its ``## `` heading."""

    kind: Kind
    text: str
    line: int
    section: str
    lang: str = ""

    @property
    def where(self) -> str:
        """``README.md:LINE (section)`` for messages."""
        return f"README.md:{self.line} ({self.section})"


def normalize(command: str) -> str:
    """One spaced command: whitespace runs (line breaks of inline code included) become one space."""
    return " ".join(command.split())


def strip_comment(line: str) -> str:
    """The shell line without its ``# comment`` (a ``#`` outside quotes, at the start or after a blank)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def env_and_words(command: str) -> tuple[list[str], list[str]]:
    """``A=1 B=2 deltamem list`` → (["A=1", "B=2"], ["deltamem", "list"]), split on blanks (no unquoting)."""
    words = command.split()
    n = 0
    while n < len(words) and _ENV_ASSIGNMENT.match(words[n]):
        n += 1
    return words[:n], words[n:]


def is_command(span: str) -> bool:
    """Whether an inline code span is a command line (its first word, after env assignments, is a command)."""
    _, words = env_and_words(span)
    return bool(words) and words[0] in COMMAND_WORDS


def parse(markdown: str) -> list[Snippet]:
    """Every code snippet of a Markdown document, in document order."""
    out: list[Snippet] = []
    section = "(top)"
    prose: list[tuple[int, str]] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            out += _inline(prose, section)
            prose, section = [], line[3:].strip()
        if not line.lstrip().startswith("```"):
            prose.append((i + 1, line))
            i += 1
            continue
        out += _inline(prose, section)
        prose = []
        lang = line.lstrip()[3:].strip().lower()
        start = i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].lstrip().startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        out += _block(lang, body, start + 1, section)
    return out + _inline(prose, section)


def _block(lang: str, body: list[str], first_line: int, section: str) -> list[Snippet]:
    if lang in PROSE_LANGS:
        return []
    if lang in PYTHON_LANGS:
        return [Snippet("python", "\n".join(body), first_line, section, lang)]
    if lang in TOML_LANGS:
        return [Snippet("toml", "\n".join(body), first_line, section, lang)]
    if lang not in SHELL_LANGS:
        return [Snippet("unknown", "\n".join(body), first_line, section, lang)]
    out: list[Snippet] = []
    pending, pending_line = "", 0
    for n, raw in enumerate(body, start=first_line):
        text = strip_comment(raw)
        if not pending:
            pending_line = n
        if text.endswith("\\"):  # a continued command
            pending += text[:-1] + " "
            continue
        command = normalize(pending + text)
        pending = ""
        if command:
            out.append(Snippet("shell", command, pending_line, section, lang))
    return out


def _inline(prose: list[tuple[int, str]], section: str) -> list[Snippet]:
    """Inline commands of a run of prose lines (a span may continue on the next line)."""
    if not prose:
        return []
    text = "\n".join(line for _, line in prose)
    out = []
    for m in _INLINE.finditer(text):
        span = normalize(m.group(1))
        if is_command(span):
            out.append(Snippet("inline", span, prose[0][0] + text.count("\n", 0, m.start()), section))
    return out
