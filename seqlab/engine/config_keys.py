"""A jsonargparse parse error as one line a user can act on.

jsonargparse reports a misspelt ``--model.net.hiden_size`` as a ``Parser key "model"`` Union error
nested around ``unrecognized arguments: --net.hiden_size=3`` (after the whole usage block), and a bad
value with Python type reprs. :func:`explain` names the key as the user wrote it (``--KEY`` on the
command line, ``FILE: KEY`` in a config file), the nearest valid key (difflib), or the value and what
was expected.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from jsonargparse import ActionConfigFile, ArgumentParser

from seqlab.data.modules.checked_settings import DataSettingError
from seqlab.engine.config_files import config_arguments

# The forms of "no such key", innermost first: (pattern, group holding the key).
_UNKNOWN = (
    re.compile(r"unrecognized arguments: --?([^\s=]+)"),
    re.compile(r"does not accept option '([^']+)'"),
    re.compile(r"Option '([^']+)' is not accepted"),
)
_GROUP = re.compile(r"Group '([^']+)' does not accept option '([^']+)'")
_KEY = re.compile(r'Parser key "([^"]+)"')
_CLASS = re.compile(r"Problem with given class_path '([^']+)'")
_REQUIRED = re.compile(r"the following arguments are required: ([\w.,\s]+)")
_GOT = re.compile(r"Got value: (.*)|Given value: (.*)")
_VAL = re.compile(r"NestedArg\(key='[^']*', val='([^']*)'\)")
_EXPECTED = re.compile(r"Expected an? (.+?)(?:\. Got value:| but |: |$)", re.MULTILINE)
# init_args given to a callable argument (the optimizer) whose class was never chosen: the default is a
# function, so jsonargparse tries the abstract base class, which takes no such option.
_NO_CLASS = re.compile(
    r'Parser key "(\w+)":\s*Type [^\n]*expects a function or a callable class: '
    r"Option '([^']+)' is not accepted\. Got value: Namespace\(class_path='([^']+)'"
)
_EXAMPLE_CLASS = {"torch.optim.Optimizer": "torch.optim.AdamW"}
_BRANCH_END = re.compile(r"\n(?:    - |  \S)")


def explain(err: Exception, parser: ArgumentParser, argv: Sequence[str], verb: str | None = None) -> str:
    """``err`` (from parsing ``argv`` with ``parser``, a verb's or the top one) as one message; ``verb``
    names the verb whose ``--help`` lists the keys (default: the training verb in ``argv``)."""
    message = _without_base_class_branches(str(err))
    outer = _KEY.findall(message)
    no_class = _NO_CLASS.search(message)
    if no_class is not None and outer:
        key, option = f"{outer[0]}.{no_class[1]}", no_class[2]
        example = _EXAMPLE_CLASS.get(no_class[3], "CLASS")
        return (
            f"--{key}.{option}: no class is chosen for {key} (its default is used as a whole), so it "
            f"takes no {option!r}; choose one first: --{key} {example} --{key}.{option} VALUE"
            f"{_help(argv, verb)}"
        )
    prefix = _nested_prefix(message) if outer and _CLASS.search(message) else ""
    unknown = _unknown_key(message)
    if unknown is not None:
        key = ".".join(part for part in (prefix, unknown) if part)
        near = difflib.get_close_matches(key, _valid_keys(parser, argv, message), n=1, cutoff=0.6)
        dashes = "--" if _on_command_line(key, argv) else ""
        hint = f"; did you mean {dashes}{near[0]}?" if near else ""
        return f"{_where(key, argv)}unknown key {_shown(key, argv)}{hint}{_help(argv, verb)}"
    if outer:
        key = ".".join(outer) if prefix else outer[0]
        required = _REQUIRED.search(message)
        if required is not None:  # a class's argument without a default, not given
            missing = f"{key}.{required[1].split(',')[0].strip()}"
            return f"{_where(key, argv)}{_shown(missing, argv)}: required, not given{_help(argv, verb)}"
        inner = _class_problem(message) if prefix else message
        given = _given(key, argv, inner, message)
        return f"{_where(key, argv)}{_shown(key, argv)}: {_expected(inner)}, got {given!r}"
    return f"{message.strip()}{_help(argv, verb)}"


def _without_base_class_branches(message: str) -> str:
    """A Union error lists what each member said. For ``--trainer.callbacks+=C --trainer.callbacks.x V``
    that is C's complaint and, beside it, the abstract ``lightning.Callback``'s ("Option 'x' is not
    accepted"), which read as an unknown key; the base class's branch goes, the chosen class's stays."""
    names = _CLASS.findall(message)
    if len(names) < 2:
        return message
    from seqlab.engine.compatibility import import_class  # (torch: only for errors about classes)

    classes = {name: import_class(name) for name in names}
    found = [c for c in classes.values() if c is not None]
    for name, cls in classes.items():
        if cls is not None and any(other is not cls and issubclass(other, cls) for other in found):
            start = message.find(f"    - Problem with given class_path '{name}'")
            if start >= 0:
                end = _BRANCH_END.search(message, start + 1)  # the next member, or the Union's own lines
                message = message[:start] + (message[end.start() + 1 :] if end else "")
    return message


def explain_setting(err: BaseException, argv: Sequence[str]) -> str | None:
    """A data setting out of range (:class:`DataSettingError`, raised while building the DataModule
    and wrapped by jsonargparse) as one line naming the key as the user wrote it; ``None`` if ``err``
    is about something else."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, DataSettingError):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    given = _given(cause.key, argv, "", "") if _on_command_line(cause.key, argv) else repr(cause.value)
    return f"{_where(cause.key, argv)}{_shown(cause.key, argv)} {given}: expected {cause.expected}"


def _nested_prefix(message: str) -> str:
    """The sections an error about a class inside a class is nested in (``data.source`` for a
    DataModule's source): the ``Parser key`` of each ``class_path`` problem, outermost first."""
    return ".".join(_KEY.findall(message)[: max(1, len(_CLASS.findall(message)))])


def _help(argv: Sequence[str], verb: str | None) -> str:
    return f" (seqlab {verb or _verb(argv)} --help lists the keys)"


def _class_problem(message: str) -> str:
    """The part of a Union error about the given class (not its ``Expected a NoneType`` sibling)."""
    found = list(_CLASS.finditer(message))  # the innermost class
    rest = message[found[-1].end() :] if found else message
    return rest.split("\n    - ", 1)[0]


def _unknown_key(message: str) -> str | None:
    group = _GROUP.search(message)
    if group is not None:
        return f"{group[1]}.{group[2]}"
    for pattern in _UNKNOWN:
        found = pattern.search(message)
        if found is not None:
            return found[1].removeprefix("init_args.")
    return None


def _valid_keys(parser: ArgumentParser, argv: Sequence[str], message: str) -> list[str]:
    """The dotted keys ``parser`` accepts (the verb's, for a verb's arguments), plus the keys of the
    class a ``class_path`` error is about, under its section (``model.net.hidden_size``)."""
    verb = _verb(argv)
    subcommands = getattr(parser, "_subcommands_action", None)
    if subcommands is not None and verb in subcommands._name_parser_map:
        parser = subcommands._name_parser_map[verb]
    keys = _dests(parser)
    classes = _CLASS.findall(message)
    if classes and _KEY.search(message) is not None:
        section = _nested_prefix(message)  # the innermost class's keys, under all its sections
        from seqlab.engine.compatibility import import_class

        try:
            cls = import_class(classes[-1])
            class_parser = ArgumentParser(exit_on_error=False)
            class_parser.add_class_arguments(cls, fail_untyped=False)
            keys += [f"{section}.{key}" for key in _dests(class_parser)]
        except Exception:  # a suggestion is a courtesy; the key is named without one
            pass
    return keys


def _dests(parser: ArgumentParser | argparse.ArgumentParser) -> list[str]:
    """The keys ``parser`` takes, less help and a YAML ``--config`` file (a plain ``--config`` option,
    as ``seqlab tune``'s experiment file, is a key)."""
    return [
        a.dest
        for a in parser._actions
        if a.dest != "help" and not isinstance(a, ActionConfigFile) and not a.dest.endswith(".help")
    ]


def _verb(argv: Sequence[str]) -> str:
    return next((word for word in argv if word in ("fit", "validate", "test")), "fit")


def _shown(key: str, argv: Sequence[str]) -> str:
    """``--KEY`` where the user wrote the key on the command line, else the key as a config has it."""
    return f"--{key}" if _on_command_line(key, argv) else key


def _on_command_line(key: str, argv: Sequence[str]) -> bool:
    spellings = {f"--{key}", f"--{key.replace('.', '.init_args.', 1)}"}
    return any(arg.split("=", 1)[0] in spellings for arg in argv)


def _where(key: str, argv: Sequence[str]) -> str:
    """``FILE: `` for the config file whose ``key`` counts (when the command line does not set it)."""
    if _on_command_line(key, argv):
        return ""
    for path in reversed(config_arguments(argv)):  # the last file that sets it is the one that counts
        try:
            with open(path, encoding="utf-8") as file:
                loaded = yaml.safe_load(file)
        except (OSError, yaml.YAMLError):
            continue
        if key in _flat_keys(loaded):
            return f"{path}: "
    return ""


def _flat_keys(config: Any, prefix: str = "") -> Iterable[str]:
    """Dotted keys of a loaded YAML, ``init_args`` levels left out (``model.net.hidden_size``)."""
    if not isinstance(config, dict):
        return
    for name, value in config.items():
        key = prefix if name == "init_args" else f"{prefix}.{name}" if prefix else str(name)
        if name != "init_args":
            yield key
        yield from _flat_keys(value, key)


def _expected(message: str) -> str:
    """ "expected an int" / "expected one of 'a', 'b' or null" from jsonargparse's type reprs."""
    kinds = []
    for kind in _EXPECTED.findall(message):
        kind = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", kind.strip())
        kind = re.sub(r"typing\.Literal\[(.*)\]", r"one of \1", kind).replace("NoneType", "null")
        if kind not in kinds:
            kinds.append(kind)
    if kinds:
        return f"expected {' or '.join(kinds)}"
    reason = next((line.strip() for line in message.splitlines() if line.strip(" :")), "")
    return reason or "not a valid value"  # e.g. a class_path's "module 'x' has no attribute 'Y'"


def _given(key: str, argv: Sequence[str], inner: str, message: str) -> str:
    """The value given for ``key``: as written on the command line, else as jsonargparse quotes it."""
    for i, arg in enumerate(argv):
        name, equals, value = arg.partition("=")
        if _on_command_line(key, [name]):
            return value if equals else (argv[i + 1] if i + 1 < len(argv) else "")
    found = _GOT.search(inner) or _VAL.search(message) or _GOT.search(message)
    return next((group for group in found.groups() if group), "").strip() if found else "?"
