"""The documentation names every contract the code defines, so the two cannot drift apart.

- docs/commands.md names every `flask` command and subcommand registered on the app, and every
  option of the project's own commands on a line that names the command;
- docs/configuration.md names every environment variable the code and the scripts read;
- docs/excel-formats.md names every sheet and column (key, Vietnamese label and aliases) of the
  Excel imports, the grade sheet's columns included.

The contracts are found in the code, not listed here: the commands by walking `app.cli`, the
variables by reading the source, the columns by collecting the `app.xlsx.Column` definitions of
the area packages. Only the places below name modules; when a module moves, fix them here.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from types import SimpleNamespace

import click
import pytest

from app import create_app
from app.xlsx import Column
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# Packages whose own commands must document every option (third-party ones, such as Flask-Migrate's
# `db`, need their commands named only).
OWN_PACKAGES = ("app", "admissions", "contactbook")
# Python code and shell scripts whose environment reads must be documented.
PYTHON_SOURCES = ("app", "admissions", "contactbook", "scripts")
SHELL_SCRIPTS = ("scripts/run", "scripts/test", "scripts/_venv.sh", "scripts/lock", "scripts/i18n", ".ci/run")
# Packages holding the Excel import definitions (module globals: Column instances, tuples or dicts
# of them, and sheet names in globals whose name contains SHEET).
EXCEL_PACKAGES = ("admissions", "contactbook")
# The grade sheet's columns depend on the subject: columns_for(subject) builds them.
GRADE_COLUMNS = ("contactbook.grades", "columns_for")
# Sheets that discovery must find, so that a move of the definitions cannot empty the check.
KNOWN_SHEETS = {"schools", "catchments", "roster", "pupils", "teachers", "grades", "info"}


def _doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _names(text: str, phrase: str) -> bool:
    """`phrase` stands in `text` as whole words (a hyphen does not end a word: import-roster)."""
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


# --------------------------------------------------------------------------- commands


def cli_commands(app) -> list[tuple[str, click.Command]]:
    """(`group subcommand`, command) for everything registered on `app.cli`, groups included."""

    def walk(group: click.Group, prefix: tuple[str, ...]):
        for name, command in sorted(group.commands.items()):
            path = (*prefix, name)
            yield " ".join(path), command
            if isinstance(command, click.Group):
                yield from walk(command, path)

    return list(walk(app.cli, ()))


def _own(command: click.Command) -> bool:
    module = getattr(command.callback, "__module__", "") or ""
    return module.split(".")[0] in OWN_PACKAGES


def missing_commands(commands, text: str) -> list[str]:
    lines = text.splitlines()
    missing = []
    for phrase, command in commands:
        if not _names(text, phrase):
            missing.append(phrase)
            continue
        if not _own(command):
            continue
        naming = [line for line in lines if _names(line, phrase)]
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            option = max(param.opts, key=len)  # --stale-seconds rather than -s
            if not any(_names(line, option) for line in naming):
                missing.append(f"{phrase} {option}")
    return missing


@pytest.fixture
def cli(tmp_path):
    app = create_app(make_config("sqlite://", tmp_path))  # builds the app only: no connection
    return cli_commands(app)


def test_every_command_and_option_is_in_commands_md(cli):
    phrases = {phrase for phrase, _ in cli}
    # Discovery found the project's commands and a third-party group's subcommands.
    assert {"admissions import-roster", "contactbook import-classes", "worker", "db upgrade"} <= phrases
    assert missing_commands(cli, _doc("commands.md")) == []


def test_the_commands_check_fails_on_a_missing_command_or_option(cli):
    text = _doc("commands.md")
    without_command = re.sub(r"(?<![\w-])expire-offers(?![\w-])", "", text)
    assert "admissions expire-offers" in missing_commands(cli, without_command)
    without_option = text.replace("--lang", "--language")
    assert "admissions import-schools --lang" in missing_commands(cli, without_option)


# --------------------------------------------------------------------------- environment


_ENV_OBJECTS = ("os.environ", "environ")


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _env_key(node: ast.AST) -> ast.AST | None:
    """The key expression if `node` reads the environment: os.environ.get(K), os.environ[K],
    os.getenv(K), os.environ.setdefault(K, …), K in os.environ."""
    if isinstance(node, ast.Call) and node.args:
        func = _dotted(node.func)
        if func in ("os.getenv", "getenv") or (
            func.rsplit(".", 1)[0] in _ENV_OBJECTS and func.rsplit(".", 1)[-1] in ("get", "setdefault", "pop")
        ):
            return node.args[0]
    if isinstance(node, ast.Subscript) and _dotted(node.value) in _ENV_OBJECTS:
        return node.slice
    if (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.In | ast.NotIn)
        and _dotted(node.comparators[0]) in _ENV_OBJECTS
    ):
        return node.left
    return None


def python_env_reads(source: str) -> set[str]:
    """Variables a module reads: literal keys, and literal first arguments of the module's own
    helpers that read the variable named by their parameter (`env_bool("COOKIE_SECURE", True)`)."""
    tree = ast.parse(source)
    names: set[str] = set()
    helpers: set[str] = set()
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef):
            continue
        params = {a.arg for a in func.args.args}
        for node in ast.walk(func):
            key = _env_key(node)
            if isinstance(key, ast.Name) and key.id in params:
                helpers.add(func.name)
    for node in ast.walk(tree):
        key = _env_key(node)
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
        if (
            isinstance(node, ast.Call)
            and _dotted(node.func).rsplit(".", 1)[-1] in helpers
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


# `${NAME:-default}`, `${NAME-default}`, `${NAME:=default}`: a variable the script lets the caller set.
_SHELL_DEFAULT = re.compile(r"\$\{([A-Z][A-Z0-9_]*):?[-=]")


def shell_env_reads(source: str) -> set[str]:
    return set(_SHELL_DEFAULT.findall(source))


def env_reads() -> dict[str, set[str]]:
    """Variable → the files that read it."""
    found: dict[str, set[str]] = {}
    for top in PYTHON_SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            for name in python_env_reads(path.read_text(encoding="utf-8")):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for script in SHELL_SCRIPTS:
        for name in shell_env_reads((ROOT / script).read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(script)
    return found


def missing_variables(found: dict[str, set[str]], text: str) -> dict[str, list[str]]:
    return {name: sorted(files) for name, files in sorted(found.items()) if f"`{name}`" not in text}


def test_every_environment_variable_is_in_configuration_md():
    found = env_reads()
    # Discovery sees plain reads, a helper's reads and the shell scripts' defaults.
    assert {"DATABASE_URL", "SECRET_KEY", "COOKIE_SECURE", "PORT", "PYTHON"} <= set(found)
    assert missing_variables(found, _doc("configuration.md")) == {}


def test_the_environment_scan_finds_every_form_of_read():
    source = """
import os
from os import environ, getenv

def flag(name, default):
    return os.environ.get(name) or default

A = os.environ.get("A_GET")
B = os.environ["B_ITEM"]
C = getenv("C_GETENV")
D = flag("D_HELPER", False)
E = "E_IN" in environ
os.environ.setdefault("F_SETDEFAULT", "x")
"""
    assert python_env_reads(source) == {"A_GET", "B_ITEM", "C_GETENV", "D_HELPER", "E_IN", "F_SETDEFAULT"}
    assert shell_env_reads('P="${PORT:-5000}"; Q="${QUIET-}"; echo "${1:-}" "$HOME" "${LOCAL}"') == {
        "PORT",
        "QUIET",
    }
    text = _doc("configuration.md").replace("`SESSION_IDLE_MINUTES`", "SESSION_IDLE_MINUTES")
    assert "SESSION_IDLE_MINUTES" in missing_variables(env_reads(), text)


# --------------------------------------------------------------------------- Excel formats


def _area_modules():
    for package_name in EXCEL_PACKAGES:
        package = importlib.import_module(package_name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            yield importlib.import_module(info.name)


def _columns_in(value) -> list[Column]:
    if isinstance(value, Column):
        return [value]
    if isinstance(value, tuple | list):
        return [c for item in value for c in _columns_in(item)]
    if isinstance(value, dict):
        return [c for item in value.values() for c in _columns_in(item)]
    return []


def _sheet_names_in(value) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {v for v in value.values() if isinstance(v, str)}
    if isinstance(value, tuple | list):
        return {item[0] for item in value if isinstance(item, tuple) and item and isinstance(item[0], str)}
    return set()


def grade_sheet_columns() -> list[Column]:
    """The grade book's columns for every assessment scheme, as sheet columns (two regular
    assessments: the docs name `regular_1`, `regular_2`, … and TX1, TX2, …)."""
    module, name = GRADE_COLUMNS
    columns_for = getattr(importlib.import_module(module), name)
    subjects = [
        SimpleNamespace(assessment="scored", has_test=False, regular_count=2),
        SimpleNamespace(assessment="comment", has_test=False, regular_count=2),
        SimpleNamespace(assessment="primary", has_test=True, regular_count=0),
    ]
    return [Column(c.english, c.label) for s in subjects for c in columns_for(s)]


def excel_contract() -> tuple[list[Column], set[str]]:
    """Every import column and sheet name defined in the area packages."""
    columns: dict[tuple, Column] = {}
    sheets: set[str] = set()
    for module in _area_modules():
        for attr, value in vars(module).items():
            for column in _columns_in(value):
                columns[(column.name, column.label, column.aliases)] = column
            if "SHEET" in attr and attr.isupper():
                sheets |= _sheet_names_in(value)
    for column in grade_sheet_columns():
        columns[(column.name, column.label, column.aliases)] = column
    return list(columns.values()), sheets


def missing_excel(columns: list[Column], sheets: set[str], text: str) -> list[str]:
    missing = [f"sheet {s}" for s in sorted(sheets) if f"`{s}`" not in text]
    for column in columns:
        if f"`{column.name}`" not in text:
            missing.append(f"column {column.name}")
        for label in (column.label, *column.aliases):
            if label not in text:
                missing.append(f"label {label} ({column.name})")
    return missing


def test_every_sheet_and_column_is_in_excel_formats_md():
    columns, sheets = excel_contract()
    assert sheets >= KNOWN_SHEETS
    names = {c.name for c in columns}
    assert {"personal_id", "residence_type", "pupil_code", "homeroom", "regular_1", "test_score"} <= names
    assert missing_excel(columns, sheets, _doc("excel-formats.md")) == []


def test_the_excel_check_fails_on_a_missing_sheet_column_or_label():
    columns, sheets = excel_contract()
    text = _doc("excel-formats.md")
    assert "sheet teachers" in missing_excel(columns, sheets, text.replace("`teachers`", "teachers"))
    assert "column guardian_phone" in missing_excel(
        columns, sheets, text.replace("`guardian_phone`", "guardian phone")
    )
    assert any(
        m.startswith("label Loại cư trú")
        for m in missing_excel(columns, sheets, text.replace("Loại cư trú", "?"))
    )
    assert "label KTĐK (test_score)" in missing_excel(columns, sheets, text.replace("KTĐK", "?"))


# --------------------------------------------------------------------------- citations


def test_docs_cite_only_this_repository():
    """Documents outside the repository cannot be followed by a reader of it."""
    offending = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "DESIGN §" in line or "DESIGN.md" in line or "../shared" in line:
                offending.append(f"{path.relative_to(ROOT)}:{number}")
    assert offending == []


ISSUE_CITATION = re.compile(r"\(issue\b|\bissue \d+|\bIssue \d+, point|DESIGN §")


def test_code_cites_no_issue_tracker_entry():
    """Comments and docstrings explain themselves or cite docs/: a reader of the repository has
    no issue tracker entry to follow ("issue 16, point 7", "(issue: …)")."""
    offending = []
    for pkg in ("app", "admissions", "contactbook", "scripts", "tests"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path == Path(__file__):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if ISSUE_CITATION.search(line):
                    offending.append(f"{path.relative_to(ROOT)}:{number}")
    assert offending == []
