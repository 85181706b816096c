"""Keep the docs and the locale honest: every command documented, every string used."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import pydantic_core

from bot.__main__ import COMMANDS
from bot.knowledge import Knowledge, Qualifier
from bot.locale import Locale
from bot.matcher import Reason
from bot.paths import ROOT
from bot.provenance import FINDINGS
from bot.text import REPAIR_RULES

BOT = ROOT / "bot"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_commands() -> list[str]:
    """The first cell of each row of the README's Commands table, ``python -m bot``
    dropped: the bare main job is ``""``."""
    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `python -m bot([^`]*)` \|", section, re.M)
    return [row.split()[0] if row.split() else "" for row in rows]


def test_readme_command_table_is_the_cli_command_table() -> None:
    """Rows for the commands of bot.__main__.COMMANDS (and the bare main job), in its
    order, and for nothing else (a command may have more than one row: ``ask``)."""
    assert list(dict.fromkeys(_readme_commands())) == ["", *COMMANDS]


def test_readme_states_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    main_job = "python -m pip install -q -e . && python -m bot"
    tests = 'python -m pip install -q -e ".[dev]" && python -m pytest'
    assert main_job in README and tests in README
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _literals() -> tuple[set[str], set[str]]:
    """All string constants in bot/, and the constant prefixes of f-strings."""
    constants: set[str] = set()
    prefixes: set[str] = set()
    for path in BOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                constants.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    prefixes.add(first.value)
    return constants, prefixes


def _dynamic_suffixes(knowledge: Knowledge, constants: set[str]) -> dict[str, set[str]]:
    """Key families built at run time, and where their last part comes from."""
    pydantic_errors = set(typing.get_args(pydantic_core.core_schema.ErrorType))
    return {
        "smalltalk.": set(knowledge.smalltalk) | constants,
        "check.problem.": constants,
        "check.schema_errors.": pydantic_errors | constants,
        "commands.": constants,
        "explain.reason.": {reason.value for reason in Reason},
        "explain.rule.": set(REPAIR_RULES),
        "provenance.": set(FINDINGS),
        # Units and qualifiers as answers write them: every one the knowledge uses.
        "units.": {f.unit for e in knowledge.entries for f in e.figures if f.unit},
        "qualifiers.": set(typing.get_args(Qualifier)),
        # Indonesian --help of staff commands: each key names a command and one of its
        # options (or its description).
        "cli.staff_help.": {
            f"{c.name}.{field}"
            for c in COMMANDS.values()
            for field in (
                "description",
                "knowledge",
                "db",
                *(a.flags[-1].lstrip("-").replace("-", "_") for a in c.arguments),
            )
        },
    }


def test_every_locale_key_is_used_and_every_used_key_exists(
    locale: Locale, knowledge: Knowledge
) -> None:
    constants, prefixes = _literals()
    families = _dynamic_suffixes(knowledge, constants)
    assert set(families) <= prefixes, "a dynamic key family is no longer built in code"
    defined = locale.keys()
    sections = {key.split(".")[0] for key in defined}

    unused = []
    for key in defined:
        family = next((f for f in families if key.startswith(f)), None)
        if key in constants or (family and key[len(family) :] in families[family]):
            continue
        unused.append(key)
    assert not unused, f"locale keys defined but never used: {sorted(unused)}"

    looks_like_key = re.compile(r"^[a-z_]+(\.[a-z_0-9]+)+$")
    missing = [
        c
        for c in constants
        if looks_like_key.match(c) and c.split(".")[0] in sections and c not in defined
    ]
    assert not missing, f"keys used in code but missing from locales/id.yaml: {missing}"

    for intent in knowledge.smalltalk:
        assert locale.has(f"smalltalk.{intent}"), intent


def test_knowledge_guide_documents_every_section() -> None:
    guide = (ROOT / "docs" / "KNOWLEDGE.md").read_text(encoding="utf-8")
    from bot.knowledge import KnowledgeFile

    for section in KnowledgeFile.model_fields:
        assert f"{section}:" in guide or f"`{section}`" in guide, section


def test_security_policy_exists() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    for topic in ("BOT_RETENTION_DAYS", "BOT_STAFF_IDS", "token"):
        assert topic in text


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    source = (BOT / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'get\("([A-Z_]+)"\)|integer\("([A-Z_]+)"', source))
    for name in {n for pair in names for n in pair if n}:
        assert name in example, name
        assert f"`{name}`" in README, name


def test_no_user_visible_indonesian_in_code() -> None:
    """User text lives in locales/id.yaml: code holds no Indonesian sentences."""
    suspicious = re.compile(r"\b(silakan|maaf|terima kasih|pertanyaan anda|belum tahu)\b", re.I)
    offenders = []
    for path in BOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and suspicious.search(node.value)
            ):
                offenders.append(f"{path.relative_to(ROOT)}: {node.value[:60]!r}")
    assert not offenders, offenders


def test_paths_used_by_docs_exist() -> None:
    for name in ("Procfile", ".env.example", "docs/KNOWLEDGE.md", "SECURITY.md"):
        assert (ROOT / name).exists(), name
    assert "worker: python -m bot run" in (ROOT / "Procfile").read_text(encoding="utf-8")
    assert Path(ROOT / "locales" / "id.yaml").exists()
