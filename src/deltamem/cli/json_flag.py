"""``--json`` before or after the command: ``deltamem --json list -u x`` and ``deltamem list -u x --json`` agree.

``--json`` is a global option (the root callback sets ``OPTS.json``), so click only accepts it before the command
name. :class:`JsonAnywhereGroup` is the root group's class: when it resolves the command, it takes a ``--json``
token out of the command's own arguments and sets the global option instead. It leaves alone

- commands that declare their own ``--json`` (``deltamem reward ... --json``; those also honour the global one),
- everything after a literal ``--`` (``deltamem add -- --json`` stores the fact "--json"),
- a token that is the value of an option (``--user --json`` names the user "--json", as click reads it).

Being the group's class, it works for every command, plugins and sub-groups (``deltamem review list --json``)
included, whether the CLI is started by the console script or by ``typer.testing.CliRunner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from typer.core import TyperGroup, TyperOption

if TYPE_CHECKING:  # typer >= 0.2x vendors click as typer._click; its group signatures use those types
    from typer._click import Command, Context

JSON_FLAG = "--json"


class JsonAnywhereGroup(TyperGroup):
    """The root command group: accepts the global ``--json`` among the arguments of any command."""

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        target = self.param_name(JSON_FLAG)
        if command is None or target is None:
            return name, command, rest
        chain = _command_chain(ctx, command, rest)
        if JSON_FLAG in _option_names(chain[-1]):
            return name, command, rest  # the command has its own --json
        value_options = {option for c in chain for option in _value_options(c)}
        rest, found = strip_flag(rest, JSON_FLAG, value_options=value_options)
        if found:
            ctx.params[target] = True
        return name, command, rest

    def param_name(self, flag: str) -> str | None:
        """The name of this group's parameter that ``flag`` sets (None if it has none)."""
        return next((p.name for p in self.params if flag in getattr(p, "opts", ())), None)


def strip_flag(args: Sequence[str], flag: str, *, value_options: set[str]) -> tuple[list[str], bool]:
    """``args`` without the tokens equal to ``flag``, and whether there was one.

    Stops at ``--`` (what follows is positional) and skips the token after an option in ``value_options`` (it is
    that option's value, even when it looks like an option).

    >>> strip_flag(["x", "--json", "--user", "--json", "--", "--json"], "--json", value_options={"--user"})
    (['x', '--user', '--json', '--', '--json'], True)
    """
    out: list[str] = []
    found = False
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out.extend(args[i:])
            break
        if token == flag:
            found = True
        else:
            out.append(token)
            if token in value_options and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        i += 1
    return out, found


def _command_chain(ctx: Context, command: Command, args: Sequence[str]) -> list[Command]:
    """The command and, for a group such as ``review``, the sub-commands its arguments name."""
    chain = [command]
    for token in args:
        current = chain[-1]
        if token == "--" or not isinstance(current, TyperGroup):
            break
        if token.startswith("-"):
            continue
        sub = current.get_command(ctx, token)
        if sub is None:
            break
        chain.append(sub)
    return chain


def _option_names(command: Command) -> set[str]:
    return {name for p in command.params if isinstance(p, TyperOption) for name in p.opts}


def _value_options(command: Command) -> set[str]:
    """Option names of ``command`` that take a value (the next token)."""
    return {name for p in command.params if isinstance(p, TyperOption) and not p.is_flag
            and not p.count and p.nargs > 0 for name in (*p.opts, *p.secondary_opts)}
