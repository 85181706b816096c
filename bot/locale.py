"""User-visible strings, loaded from ``locales/id.yaml``.

Every sentence a resident or staff member reads lives in that file, never in code.
Keys are dotted paths (``answer.source``); a missing key is a programming error and
raises at once, so a test that renders every path catches it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from bot.paths import LOCALES_DIR


class Locale:
    def __init__(self, strings: Mapping[str, str], language: str = "id") -> None:
        self.language = language
        self._strings = dict(strings)

    @classmethod
    def load(cls, language: str = "id", folder: Path = LOCALES_DIR) -> Locale:
        raw = yaml.safe_load((folder / f"{language}.yaml").read_text(encoding="utf-8"))
        return cls(_flatten(raw), language)

    def t(self, key: str, /, **params: Any) -> str:
        """The string for ``key`` with ``{name}`` placeholders filled in."""
        try:
            template = self._strings[key]
        except KeyError:
            raise KeyError(f"locale key missing: {key}") from None
        return template.format(**params) if params else template

    def has(self, key: str) -> bool:
        return key in self._strings

    def keys(self) -> frozenset[str]:
        return frozenset(self._strings)

    def section(self, prefix: str) -> dict[str, str]:
        """All strings under ``prefix.`` keyed by the rest of their key."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self._strings.items() if k.startswith(prefix + ".")}

    @cached_property
    def month_names(self) -> list[str]:
        return self.t("format.months").split()


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _flatten(node: Any, prefix: str = "") -> dict[str, str]:
    if not isinstance(node, Mapping):
        return {prefix: str(node)}
    flat: dict[str, str] = {}
    for key, value in node.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat
