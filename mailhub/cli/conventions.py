"""How every `mailhub` command looks and fails, in one place: plain help (no boxes) where an option
with a fixed set of values shows them as `[open|members|moderated]` and its default once; usage
errors on one `error:` line with a `try '… --help'` hint and exit status 2; a group run without a
command prints its help and exits 0; a group can list commands that are imported only when they run.
Sub-command modules make their apps with `Typer` from here.

Like common.py, this module imports only typer and the standard library at the top: `mailhub --help`
stays fast."""
from __future__ import annotations

import importlib
import sys
from difflib import get_close_matches
from enum import Enum
from pathlib import Path
from typing import Any, Optional, Sequence

import typer
from typer.core import TyperCommand, TyperGroup

from mailhub.cli.common import error_line

try:  # typer 0.2x carries its own copy of click
    from typer._click.exceptions import MissingParameter, UsageError
except ImportError:  # pragma: no cover - typer on the click package
    from click.exceptions import MissingParameter, UsageError


def choices_of(param: Any) -> Optional[tuple[str, ...]]:
    """The values a Literal- or Enum-typed parameter takes, None for any other."""
    found = getattr(getattr(param, "type_descriptor", None), "choices", None) \
        or getattr(getattr(param, "type", None), "choices", None)  # click.Choice, on older typer
    return tuple(str(c.value if isinstance(c, Enum) else c) for c in found) if found else None


def _annotation(param: Any) -> Any:
    return getattr(getattr(param, "type_descriptor", None), "annotation", None)


def metavar(param: Any) -> str:
    """What stands for a parameter's value in help and usage: the given metavar, the choices, or
    a word for its type (an argument: its name in capitals)."""
    if param.metavar:
        return param.metavar
    found = choices_of(param)
    if found:
        return "[" + "|".join(found) + "]"
    if param.param_type_name == "argument":
        return (param.name or "value").upper()
    annotation = _annotation(param)
    if annotation is int:
        return "N"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "FILE"
    return "TEXT"


def either(words: Sequence[str]) -> str:
    """`a, b or c`."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _help_record(param: Any, ctx: Any) -> Optional[tuple[str, str]]:
    if getattr(param, "hidden", False):
        return None
    if param.param_type_name == "argument":
        return (metavar(param), param.help) if param.help else None  # the usage line names it already
    name = ", ".join(param.opts)
    if not (param.is_flag or getattr(param, "count", False)):
        name += " " + metavar(param)
    extra = []
    default = param.get_default(ctx, call=False)
    if isinstance(default, Enum):
        default = default.value
    if isinstance(param.show_default, str):  # words for a default that is not a value
        extra.append(f"default: {param.show_default}")
    elif default not in (None, "", False, (), []) and not param.is_flag:
        extra.append(f"default: {default}")
    if param.required:
        extra.append("required")
    text = param.help or ""
    if param is ctx.command.get_help_option(ctx):
        text = "show this help and exit"  # click's own words start with a capital, unlike ours
    if extra:
        text = f"{text}  [{'; '.join(extra)}]".strip()
    return name, text


def _usage_pieces(command: Any, ctx: Any) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name == "argument":
            piece = metavar(param) + ("..." if param.nargs != 1 else "")
            pieces.append(piece if param.required else f"[{piece}]")
    return pieces


def _format_options(command: Any, ctx: Any, formatter: Any) -> None:
    for title, kind in (("Arguments", "argument"), ("Options", "option")):
        rows = [row for p in command.get_params(ctx) if p.param_type_name == kind
                for row in [_help_record(p, ctx)] if row]
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


class _Parsing:
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except UsageError as exc:
            if exc.ctx is None:  # some of the parser's errors (an option without its value) come without it
                exc.ctx = ctx
            raise


class Command(_Parsing, TyperCommand):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_options(self, ctx, formatter)


class Group(_Parsing, TyperGroup):
    # name -> ("module:attribute", the line `--help` shows): commands listed in this order (before any
    # registered the usual way) and imported only when one runs or its own help is asked for. The
    # attribute is a Typer (a group of commands) or a function (one command).
    lazy: dict[str, tuple[str, str]] = {}

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*_usage_pieces(self, ctx), self.subcommand_metavar]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_options(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.lazy, *(name for name in self.commands if name not in self.lazy)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.commands[cmd_name] = _load(cmd_name, self.lazy[cmd_name][0])
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        names = [n for n in self.list_commands(ctx) if n in self.lazy or not self.commands[n].hidden]
        if not names:
            return
        limit = formatter.width - 6 - max(map(len, names))
        with formatter.section("Commands"):
            formatter.write_dl([(n, self.lazy[n][1] if n in self.lazy
                                 else self.commands[n].get_short_help_str(limit)) for n in names])

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[Optional[str], Any, list[str]]:
        name = args[0]
        command = self.get_command(ctx, name)
        if command is None and not ctx.resilient_parsing:
            if name.startswith("-"):
                self.parse_args(ctx, args)  # an unknown option: the parser says so
            close = get_close_matches(name, self.list_commands(ctx))
            ctx.fail(f"no such command '{name}'" + (f"; did you mean {either(close)}?" if close else ""))
        return (name if command else None), command, args[1:]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help())  # `mailhub` alone, `mailhub group` alone: help, and no error
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def main(self, args: Optional[Sequence[str]] = None, prog_name: Optional[str] = None,
             complete_var: Optional[str] = None, standalone_mode: bool = True, **extra: Any) -> Any:
        """Run the command line; usage errors become one `error:` line and a hint (exit 2)."""
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0  # typer.Exit(n) comes back as n
        except UsageError as exc:
            path = exc.ctx.command_path if exc.ctx is not None else (prog_name or self.name or "mailhub")
            typer.echo(error_line(usage_problem(exc)), err=True)
            typer.echo(f"try '{path} --help'", err=True)
            code = 2
        except typer.TyperException as exc:  # click's other errors, such as a file it cannot open
            typer.echo(error_line(exc.format_message()), err=True)
            code = exc.exit_code
        except typer.Abort:
            typer.echo(error_line("aborted"), err=True)
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


def _load(name: str, target: str) -> Any:
    """The click command for a `Group.lazy` entry."""
    module, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    if isinstance(found, typer.Typer):
        command = typer.main.get_group(found)
    else:
        single = Typer()
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


def usage_problem(exc: Any) -> str:
    """What was wrong with the command line, on one line and in mailhub's words where we know
    them: a value outside the choices lists the choices."""
    param = getattr(exc, "param", None)
    if param is not None:
        name = param.opts[0] if param.param_type_name == "option" else metavar(param)
        choices = choices_of(param)
        if isinstance(exc, MissingParameter):
            return f"missing {param.param_type_name} {name}" + (f" ({either(choices)})" if choices else "")
        found = getattr(exc.__cause__, "errors", list)()  # typer checks values with pydantic
        given = found[0].get("input") if found else None
        if isinstance(given, str):
            takes = "takes" if param.param_type_name == "option" else "must be"
            if choices:
                return f"{name} {takes} {either(choices)}, not '{given}'"
            if _annotation(param) is int:
                return f"{name} {takes} a whole number, not '{given}'"
    text = " ".join(exc.format_message().replace("Value error, ", "").split()).rstrip(".")
    return text[:1].lower() + text[1:]


class Typer(typer.Typer):
    """typer.Typer with mailhub's conventions: the classes above, no rich boxes, help when run
    without a command, no shell-completion options, no pretty tracebacks (main() catches all)."""

    def __init__(self, **kwargs: Any) -> None:
        defaults: dict[str, Any] = {"cls": Group, "rich_markup_mode": None, "no_args_is_help": True,
                                    "add_completion": False, "pretty_exceptions_enable": False}
        super().__init__(**{**defaults, **kwargs})

    def command(self, name: Optional[str] = None, *, cls: Optional[type[TyperCommand]] = None,
                **kwargs: Any) -> Any:
        return super().command(name, cls=cls or Command, **kwargs)
