"""Is every number in the knowledge stated by its sources, in words of our own?

The knowledge may carry only facts and figures that the public pages state, written in
our own words. The pages are kept as fact sheets (``../shared/sources/*.md``, one per
page, named like the source's id, plus the seed's text). Two checks:

* **numbers**: each number an entry writes (answer, history, title, figures) must occur
  in the sheet of one of the entry's sources; a number in an example question or a
  keyword must occur in some sheet. "200 ribu" and ``value: 200000`` are the same
  number, and so are "Rp1,15 triliun" and ``value: 1.15`` with ``unit: triliun rupiah``;
* **own words**: no run of :data:`RUN` consecutive words of an entry's texts may
  occur in any sheet.

``python -m bot.provenance [KNOWLEDGE_DIR] [SOURCES_DIR]`` prints each finding as
``file: entry: what`` and exits 1 when there is any.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import yaml

from bot.locale import Locale
from bot.paths import ROOT
from bot.text import parse_numbers  # how check reads a knowledge text's numbers

RUN = 8  # this many consecutive words shared with a sheet is copying
FINDINGS = ("number_in_sources", "number_in_sheets", "copied")
SHEETS = ROOT.parent / "shared" / "sources"
_NUMBER = re.compile(
    r"(?<![\d.,])(\d+(?:[.,]\d+)*)(?:\s*(ribu|rb|juta|jt|miliar|milyar|triliun|[MT])\b)?"
)
_SCALES = {
    "ribu": 3,
    "rb": 3,
    "juta": 6,
    "jt": 6,
    "miliar": 9,
    "milyar": 9,
    "M": 9,
    "triliun": 12,
    "T": 12,
}
# Small counts are often written out ("sembilan program"): they state the number too.
NUMBER_WORDS = {
    word: Decimal(i)
    for i, word in enumerate(
        [
            "nol",
            "satu",
            "dua",
            "tiga",
            "empat",
            "lima",
            "enam",
            "tujuh",
            "delapan",
            "sembilan",
            "sepuluh",
            "sebelas",
        ]
    )
} | {"seratus": Decimal(100), "seribu": Decimal(1000), "setengah": Decimal("0.5")}
_WORD = re.compile(r"[0-9a-zà-ÿ]+(?:['’][a-z]+)?")


@dataclass(frozen=True)
class Finding:
    file: str
    entry: str
    code: str  # one of FINDINGS: provenance.<code> in locales/id.yaml
    params: tuple[tuple[str, str], ...] = ()

    @property
    def what(self) -> str:
        return _locale().t(f"provenance.{self.code}", **dict(self.params))

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.what}"


@lru_cache(maxsize=1)
def _locale() -> Locale:
    return Locale.load()


def readings(digits: str) -> set[Decimal]:
    """The values a written number may have: Indonesian ("7.140" = 7140, "98,76"),
    English ("98.76"), and each of its digit groups ("2025-07-31" gives 2025, 7, 31)."""
    values: set[Decimal] = set()
    for text in (digits.replace(".", "").replace(",", "."), digits.replace(",", "")):
        with suppress(InvalidOperation):
            values.add(Decimal(text).normalize())
    values.update(Decimal(part).normalize() for part in re.findall(r"\d+", digits))
    return values


def numbers_of(text: str) -> set[Decimal]:
    """Every value a text states, each also scaled by a following "ribu", "juta",
    "miliar" or "triliun" (and their short forms)."""
    found: set[Decimal] = set()
    for match in _NUMBER.finditer(text):
        values = readings(match.group(1))
        found |= values
        scale = match.group(2)
        if scale:
            found |= {(v * Decimal(10) ** _SCALES[scale]).normalize() for v in values}
    return found


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def runs(tokens: list[str], n: int = RUN) -> Iterator[tuple[str, ...]]:
    for i in range(len(tokens) - n + 1):
        yield tuple(tokens[i : i + n])


@dataclass
class Sheets:
    """The fact sheets: each one's numbers, and every run of words across them."""

    numbers: dict[str, set[Decimal]]
    all_numbers: set[Decimal]
    word_runs: set[tuple[str, ...]]

    @classmethod
    def read(cls, folder: Path = SHEETS) -> Sheets:
        numbers: dict[str, set[Decimal]] = {}
        word_runs: set[tuple[str, ...]] = set()
        for path in sorted([*folder.glob("*.md"), *folder.glob("*.txt")]):
            if path.name == "INDEX.md":
                continue
            text = path.read_text(encoding="utf-8")
            numbers[path.stem] = numbers_of(text) | {
                NUMBER_WORDS[w] for w in words(text) if w in NUMBER_WORDS
            }
            word_runs.update(runs(words(text)))
        all_numbers = set().union(*numbers.values()) if numbers else set()
        return cls(numbers, all_numbers, word_runs)

    def states(self, value: Decimal, source_ids: Iterable[str]) -> bool:
        """Whether one of these sources' sheets states ``value`` (as written, or as the
        figure's value before its unit's scale: ``value: 1.15``, ``unit: triliun``)."""
        pools = [self.numbers[s] for s in source_ids if s in self.numbers]
        return any(value in pool for pool in pools)


def _scaled(value: Decimal, unit: str | None) -> set[Decimal]:
    values = {value.normalize()}
    for word in (unit or "").split():
        if word in _SCALES:
            values.add((value * Decimal(10) ** _SCALES[word]).normalize())
    return values


def audit(knowledge: Path, sheets: Sheets) -> list[Finding]:
    """Every number no sheet of its entry's sources states, and every run of words
    shared with a sheet, in the entries of every file of ``knowledge``."""
    findings: list[Finding] = []
    for path in sorted(knowledge.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in data.get("entries") or []:
            findings += _audit_entry(path.name, entry, sheets)
    return findings


def _audit_entry(file: str, entry: dict, sheets: Sheets) -> list[Finding]:
    entry_id = str(entry.get("id"))
    sources = [str(s) for s in entry.get("sources") or []]
    for update in entry.get("history") or []:
        sources += [str(s) for s in update.get("sources") or []]
    known = [s for s in sources if s in sheets.numbers]
    findings: list[Finding] = []

    def need(values: set[Decimal], shown: str, pool: list[str] | None) -> None:
        ok = (
            any(sheets.states(v, pool) for v in values)
            if pool is not None
            else any(v in sheets.all_numbers for v in values)
        )
        if not ok:
            code = "number_in_sources" if pool is not None else "number_in_sheets"
            findings.append(Finding(file, entry_id, code, (("number", shown),)))

    own_texts = [str(entry.get("title", "")), str(entry.get("answer", ""))]
    own_texts += [str(u.get("text", "")) for u in entry.get("history") or []]
    for fig in entry.get("figures") or []:
        own_texts += [str(fig.get(k) or "") for k in ("label", "text", "period")]
        if fig.get("value") is not None:
            value = Decimal(str(fig["value"]))
            need(_scaled(value, fig.get("unit")), str(fig["value"]), known)
    for text in own_texts:
        for shown, value in parse_numbers(text):
            need({value} | readings(shown.split()[0]), shown, known)
    for text in [*(entry.get("questions") or []), *(entry.get("keywords") or [])]:
        for shown, value in parse_numbers(str(text)):
            need({value} | readings(shown.split()[0]), shown, None)
    for text in own_texts:
        tokens = words(text)
        for run in runs(tokens):
            if run in sheets.word_runs:
                findings.append(
                    Finding(file, entry_id, "copied", (("n", str(RUN)), ("words", " ".join(run))))
                )
                break
    return findings


def main(argv: list[str]) -> int:
    knowledge = Path(argv[0]) if argv else ROOT / "knowledge"
    folder = Path(argv[1]) if len(argv) > 1 else SHEETS
    if not folder.is_dir():
        print(_locale().t("provenance.no_sheets", folder=folder))
        return 2
    findings = audit(knowledge, Sheets.read(folder))
    for finding in findings:
        print(finding)
    print(_locale().t("provenance.summary", count=len(findings)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
