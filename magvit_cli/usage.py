"""Option and argument errors as one line, with a hint where the call's words show what was
meant (click's own messages say less, in a box of five lines): an option given before its command,
a file named like an option, a shell-expanded pattern, another word for a command.
"""
from __future__ import annotations

import contextlib
import os
from typing import Optional

import typer
import typer.core

from .console import State, error_line, is_stdout_gone, stdout_gone


# click's UsageError (bad option, missing argument) as typer has it: its own copy of click or click
_ClickUsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class OneLineUsageErrors(typer.core.TyperGroup):
    """Option and argument errors as one line on stderr, exit code 2, like every other error here
    (typer draws a box of five lines with a usage reminder); no arguments still shows the help."""

    def make_context(self, info_name, args, *more, **kwargs):
        State.argv = list(args)  # the call's words, for _extra_hint
        args = global_first(list(args))
        with _one_line():
            return super().make_context(info_name, args, *more, **kwargs)

    def invoke(self, ctx):
        with _one_line():
            return super().invoke(ctx)


_GLOBAL = ("--allow-pickle",)  # the app's own options that a call may give after its command too


def global_first(args: list) -> list:
    """The app's own options moved before the command, wherever the call gave them (up to a `--`):
    `magvit weights convert x.ckpt out --allow-pickle` was 'No such option: --allow-pickle'."""
    end = args.index("--") if "--" in args else len(args)
    given = [a for a in args[:end] if a in _GLOBAL]
    return given + [a for a in args[:end] if a not in _GLOBAL] + args[end:]


@contextlib.contextmanager
def _one_line():
    try:
        yield
    except BrokenPipeError as e:  # a command that prints outside fail()'s reach (classes, weights list)
        if is_stdout_gone(e):
            raise typer.Exit(stdout_gone()) from None
        raise
    except _ClickUsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":
            raise
        where = e.ctx.command_path if e.ctx is not None else "magvit"
        owner = _owner(e)
        if owner:  # `magvit --device cpu interpolate x.mp4`: click offered the app's own options
            error_line(f"{e.option_name} is an option of `{owner}`: give it after the command ({owner} ... {e.option_name})")
        else:
            error_line(f"{_elsewhere(e) or e.format_message()}{_extra_hint(e)} (see `{where} --help`)")
        raise typer.Exit(2) from None


def _owner(e) -> Optional[str]:
    """The command (`magvit interpolate`) whose option an unknown one given before it is, if any."""
    name, ctx = getattr(e, "option_name", None), e.ctx
    if not name or ctx is None or ctx.parent is not None:
        return None
    group, path = ctx.command, [ctx.command_path]
    for word in State.argv:
        sub = group.get_command(ctx, word) if not word.startswith("-") and hasattr(group, "get_command") else None
        if sub is None:
            continue  # an option or its value
        group = sub
        path.append(word)
        if not hasattr(sub, "get_command"):
            return " ".join(path) if any(name in p.opts + p.secondary_opts for p in sub.params) else None
    return None


def _elsewhere(e) -> Optional[str]:
    """'No such option: --seed: `magvit reconstruct` does not take it (`magvit interpolate`, ... do)': an option this
    command does not take but others do, named with those (click offered 'Possible options:
    --end' for `reconstruct --seed`, by spelling); None for any other error."""
    name = getattr(e, "option_name", None)
    if not name or e.ctx is None or e.ctx.parent is None or not e.format_message().startswith("No such option"):
        return None  # (given before any command: _owner's)
    root = e.ctx.find_root()
    owners = [path for path, command in _commands(root.command, root.info_name or "magvit")
              if any(name in p.opts + p.secondary_opts for p in command.params)]
    if not owners:
        return None
    shown = ", ".join(f"`{o}`" for o in owners[:4]) + (f" and {len(owners) - 4} more" if len(owners) > 4 else "")
    return f"No such option: {name}: `{e.ctx.command_path}` does not take it ({shown} do{'es' * (len(owners) == 1)})"


def _commands(group, path: str):
    """(command path, command) of every command under `group`, in their listed order."""
    for word in getattr(group, "commands", {}):
        sub = group.commands[word]
        if hasattr(sub, "commands"):
            yield from _commands(sub, f"{path} {word}")
        else:
            yield f"{path} {word}", sub


def _extra_hint(e) -> str:
    """Extra arguments to a command whose list options take one value at a time: what the shell
    made of an unquoted `--data clips/*.mp4` (clips/a.mp4 taken, the rest left over). An unknown
    option that is a file's name (`-clip.mp4`): how to give it."""
    if "Input should be" in e.format_message():  # typer's words name the rule, not the value broken
        return _given(e)
    if e.format_message().startswith("No such command") and e.ctx is not None and "Did you mean" not in e.format_message():
        return _command_hint(e.ctx, e.format_message())  # (click names near spellings itself)
    if e.format_message().startswith("No such option"):
        named = next((a for a in State.argv if a.startswith("-") and a != "-" and os.path.lexists(a)), None)
        return f"; the file {named} is given as ./{named}, or after --" if named else ""
    if e.ctx is None or not e.format_message().startswith("Got unexpected extra argument"):
        return ""
    many = [max(p.opts, key=len) for p in e.ctx.command.params if getattr(p, "multiple", False) and p.opts]
    if "--data" in many:
        return ("; --data takes one path each time: repeat it (--data a.mp4 --data b.mp4), or give a folder "
                "or a quoted pattern ('clips/*.mp4')")
    return f"; {', '.join(many)} take{'s' * (len(many) == 1)} one value each time: repeat it" if many else ""


def _given(e) -> str:
    """', got '-1'': the value the call gave an option that typer refused ('Invalid value for
    '--refine': Input should be greater than or equal to 0' leaves it out), as the call's words
    have it (the last one given, as click takes); '' for an argument or where none is found."""
    param = getattr(e, "param", None)
    if param is None or getattr(param, "param_type_name", "") != "option":
        return ""
    names, value = {*param.opts, *param.secondary_opts}, None
    for i, word in enumerate(State.argv):
        if word == "--":
            break
        if word in names and i + 1 < len(State.argv):
            value = State.argv[i + 1]
        elif word.split("=", 1)[0] in names and "=" in word:
            value = word.split("=", 1)[1]
    return "" if value is None else f", got {value!r}"


# words for a command that are not its name: the hf CLI's and other tools', the paper's task names
_COMMAND_WORDS = {"download": "pull", "fetch": "pull", "upload": "push", "ls": "list", "inspect": "info", "show": "info",
                  "fi": "interpolate", "fp": "predict", "cfp": "predict --class", "opc": "outpaint --mode central",
                  "opv": "outpaint --mode vertical", "oph": "outpaint --mode horizontal", "opd": "outpaint --mode dynamic",
                  "ipc": "inpaint --mode central", "ipd": "inpaint --mode dynamic", "cg": "generate",
                  "encode": "tokenize", "evaluate": "eval", "benchmark": "bench", "slowmo": "interpolate"}


def _command_hint(ctx, message: str) -> str:
    """An unknown command: the one meant by another word for it (`weights download`: pull; `FI`:
    interpolate), or by its spelling in another case (`Interpolate`), where there is one."""
    names = ctx.command.list_commands(ctx) if hasattr(ctx.command, "list_commands") else []
    word = message.split("'")[1].lower() if message.count("'") >= 2 else ""
    meant = _COMMAND_WORDS.get(word, word)
    return f" Did you mean `{ctx.command_path} {meant}`?" if meant and meant.split()[0] in names else ""  # as click words its own
