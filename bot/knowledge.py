"""Load and validate ``knowledge/*.yaml`` into typed, immutable models.

Staff edit these files by hand, so every problem is reported as ``file:line: what to
fix`` and loading is all-or-nothing: :func:`load_knowledge` either returns a complete
:class:`Knowledge` or raises :class:`KnowledgeError` with every problem found.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol

import yaml
import yaml_rs
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.gcpause import gc_paused
from bot.text import Normalizer, Readings, fold_words, parse_numbers

MAX_FILE_BYTES = 1_000_000
MAX_ID_LENGTH = 32  # ids travel inside 64-byte Telegram callback data
MIN_QUESTIONS = 5
MIN_EN_QUESTIONS = 2

MAX_SOURCE_ID_LENGTH = 80  # source ids never travel in callback data: room for a page's slug

Ident = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=MAX_ID_LENGTH)
]
SourceId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=MAX_SOURCE_ID_LENGTH),
]


def _as_text(value: Any) -> Any:
    """Staff write `keywords: [2026]` without quotes; YAML makes that a number."""
    if isinstance(value, int | float | Decimal | date) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[
    str,
    BeforeValidator(_as_text),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
]
Kind = Literal[
    "program",
    "facility",
    "achievement",
    "event",
    "person",
    "overview",
    "about",
    "statistic",
    "service",
    "budget",
]
SourceKind = Literal["news", "government", "agency", "other"]
Qualifier = Literal[
    "lebih dari", "kurang dari", "hingga", "sekitar", "minimal", "hampir", "mendekati", "maksimal"
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Source(_Model):
    """One public page. ``date`` is when it was published (None: the page prints none);
    ``event`` is the day it reports on, when that differs."""

    id: SourceId
    publisher: Text
    title: Text
    date: date | None
    url: HttpUrl | None = None
    kind: SourceKind = "news"
    event: date | None = None
    note: Text | None = None  # how far to trust it: who is quoted, what the date rests on

    @property
    def as_of(self) -> date | None:
        """The day its facts describe: the event reported, else the page's date."""
        return self.event or self.date


class TopicEnglish(_Model):
    title: Text


class Topic(_Model):
    id: Ident
    title: Text
    emoji: str = ""
    en: TopicEnglish | None = None


class FigureEnglish(_Model):
    """A figure's words in English; its value, source and dates are the figure's own."""

    label: Text
    text: Text | None = None  # required when the figure has ``text``
    unit: Text | None = None  # default: the locale's word for the unit, else the unit
    period: Text | None = None  # default: the figure's period as written


class Figure(_Model):
    """One claim: a figure, who states it (``source``) and what time it covers.

    Figures of one entry that share a ``label`` but differ in value must say why:
    the same ``conflict`` key (sources disagree: each is shown with its source), a
    different ``period``/``year`` (a series: the newest leads), or ``superseded`` on
    the older one (a newer source changed it: shown as history).
    """

    label: Text
    value: Decimal | None = None
    text: Text | None = None  # for amounts the source gives only vaguely ("puluhan ribu")
    unit: Text | None = None
    year: int | None = Field(default=None, ge=1900, le=2100)
    period: Text | None = None  # what time it covers, in words: "SSGI 2024", "TA 2025/2026"
    qualifier: Qualifier | None = None
    source: SourceId | None = None  # who claims it; default: the entry's first source
    as_of: date | None = None  # the day the claim was made; default: its source's date
    conflict: Ident | None = None  # figures sharing this key are rival claims
    superseded: bool = False  # a newer figure with this label replaced it
    en: FigureEnglish | None = None

    @model_validator(mode="after")
    def _value_or_text(self) -> Figure:
        if (self.value is None) == (self.text is None):
            raise ValueError("figure_value_or_text")
        return self

    @property
    def when(self) -> str | None:
        """The period the figure covers, as shown: its period, else its year."""
        return self.period or (str(self.year) if self.year else None)


class Update(_Model):
    """An older state of the facts, replaced by the entry's answer (shown as history)."""

    date: date
    text: Text
    sources: tuple[SourceId, ...] = Field(min_length=1)
    en: Text | None = None  # the text in English


class EntryEnglish(_Model):
    """An entry in English, written from the same sources: same figures, English words."""

    title: Text
    answer: Text
    questions: tuple[Text, ...] = Field(min_length=MIN_EN_QUESTIONS)
    keywords: tuple[Text, ...] = ()


class Entry(_Model):
    id: Ident
    kind: Kind
    title: Text
    answer: Text
    figures: tuple[Figure, ...] = ()
    questions: tuple[Text, ...] = Field(min_length=MIN_QUESTIONS)
    keywords: tuple[Text, ...] = ()
    topics: tuple[Ident, ...] = Field(min_length=1)
    related: tuple[Ident, ...] = ()
    sources: tuple[SourceId, ...] = Field(min_length=1)
    as_of: date | None  # the newest claim shown; null only when no source gives a date
    history: tuple[Update, ...] = ()  # older states, newest first
    en: EntryEnglish | None = None  # missing: English readers get the Indonesian text


class SmalltalkIntent(_Model):
    intent: Ident
    patterns: tuple[Text, ...] = Field(min_length=1)


class KnowledgeFile(_Model):
    """One YAML file: any mix of these sections (unknown sections are errors)."""

    entries: tuple[Entry, ...] = ()
    sources: tuple[Source, ...] = ()
    topics: tuple[Topic, ...] = ()
    slang: dict[str, Text] = Field(default_factory=dict)
    fillers: tuple[Text, ...] = ()
    details: tuple[Text, ...] = ()
    places: tuple[Text, ...] = ()  # other cities, provinces, countries: handled as details
    quantities: tuple[Text, ...] = ()
    generic: tuple[Text, ...] = ()  # words that never carry a match ("pemkot", "siapa")
    smalltalk: tuple[SmalltalkIntent, ...] = ()

    @field_validator("slang")
    @classmethod
    def _slang_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[^\s]+", str(key)):
                raise ValueError("slang_key")
        return {str(k).lower(): v.lower() for k, v in value.items()}


@dataclass(frozen=True)
class Problem:
    """One thing a staff member has to fix, rendered by the locale as file:line: text."""

    file: str
    line: int
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:  # for logs; people see the locale's wording
        detail = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.file}:{self.line}: {self.code}" + (f" ({detail})" if detail else "")


class KnowledgeError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in knowledge")
        self.problems = problems


@dataclass(frozen=True)
class Knowledge:
    entries: tuple[Entry, ...]
    sources: dict[str, Source]
    topics: dict[str, Topic]
    slang: dict[str, str]
    fillers: frozenset[str]
    details: frozenset[str]  # words asking for a detail ("alamat"): answered only if covered
    places: frozenset[str]  # other cities/regions/countries: answered only if the entry names them
    quantities: frozenset[str]  # words asking "how many" ("berapa"): need a matching figure
    smalltalk: dict[str, tuple[str, ...]]
    fingerprint: str  # changes whenever any file's bytes change
    generic: frozenset[str] = frozenset()  # say nothing about which entry: never a match
    by_id: dict[str, Entry] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {e.id: e for e in self.entries})

    def entry(self, entry_id: str) -> Entry | None:
        return self.by_id.get(entry_id)

    def sources_of(self, entry: Entry) -> list[Source]:
        return [self.sources[s] for s in entry.sources]

    def source_of(self, entry: Entry, figure: Figure) -> Source:
        """Who claims ``figure``: its own source, else the entry's first."""
        return self.sources[figure.source or entry.sources[0]]

    def claimed_on(self, entry: Entry, figure: Figure) -> date:
        """When ``figure`` was claimed: its own date, else its source's, else the entry's."""
        return figure.as_of or self.source_of(entry, figure).as_of or entry.as_of

    def in_topic(self, topic_id: str) -> list[Entry]:
        return [e for e in self.entries if topic_id in e.topics]

    @property
    def as_of(self) -> date | None:
        return max((e.as_of for e in self.entries if e.as_of), default=None)

    def normalizer(self) -> Normalizer:
        return Normalizer(slang=self.slang, fillers=self.fillers)


# --- YAML with line numbers -------------------------------------------------------

Path_ = tuple[str | int, ...]


class _YamlProblem(Exception):
    def __init__(self, line: int, code: str, **params: Any) -> None:
        super().__init__(code)
        self.line, self.code, self.params = line, code, params


class _NoAliasLoader(yaml.SafeLoader):
    """Safe loader that refuses anchors and aliases: they are never needed in
    hand-written knowledge, and refusing them rules out "billion laughs" bombs.

    Booleans follow YAML 1.2 (only true/false): in YAML 1.1 the words "on", "no",
    "yes", "off" and "y" silently become booleans, which in a word list is a trap.
    """

    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _YamlProblem(event.start_mark.line + 1, "yaml_alias")
        return super().compose_node(parent, index)


_NoAliasLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _FastLoader(getattr(yaml, "CSafeLoader", _NoAliasLoader)):  # type: ignore[misc]
    """libyaml's parser with the same YAML 1.2 booleans."""

    yaml_implicit_resolvers = _NoAliasLoader.yaml_implicit_resolvers


def _read_yaml(text: str) -> Any:
    """The reference reading (PyYAML), for a file yaml-rs refuses: it raises the exact
    problem, with its line."""
    loader = _loader(text)
    try:
        node = loader.get_single_node()
        return _construct(loader, node) if node is not None else None
    finally:
        loader.dispose()


def _lines_of(text: str) -> dict[Path_, int]:
    """The line of every value, keyed by its path. Lines are only needed to report a
    problem, so a folder is read without them and a file is composed again here only
    when one of its values is at fault (none, so line 1, if PyYAML cannot read it)."""
    try:
        root = _compose(text)
    except (_YamlProblem, yaml.YAMLError, RecursionError):
        return {}
    lines: dict[Path_, int] = {}
    todo: list[tuple[Path_, yaml.Node]] = [((), root)] if root is not None else []
    while todo:
        path, node = todo.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            todo.extend(((*path, str(key.value)), value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(((*path, i), item) for i, item in enumerate(node.value))
    return lines


# Aliases make a YAML "billion laughs" bomb; knowledge never needs one.
_NO_ALIASES = yaml_rs.AliasLimits(max_total_replayed_events=0)
_SYNTAX_LINE = re.compile(r"\bline (\d+)")
_CONSTRUCTOR_FAULTS = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)


def _read_data(text: str) -> Any:
    """The data of one file, read by yaml-rs (YAML 1.2, about 5x faster than PyYAML's
    C loader). When it refuses a file, the reference reading says what is wrong and
    where; text that may hold an anchor, or a character YAML forbids, is first read by
    the reference too, which refuses both with their line."""
    if _may_alias(text) or yaml.reader.Reader.NON_PRINTABLE.search(text):
        _compose(text)
    try:
        return yaml_rs.loads(
            text,
            alias_limits=_NO_ALIASES,
            duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error,
        )
    except Exception as exc:  # YAMLDecodeError, or anything else: a refusal all the same
        _read_yaml(text)  # raises the reference's own problem, with its line
        # ... unless only yaml-rs refuses it ("!!null x"): then its words, at its line.
        found = _SYNTAX_LINE.search(str(exc))
        what = (str(exc).splitlines() or [type(exc).__name__])[-1]  # the last line says what
        raise _YamlProblem(int(found.group(1)) if found else 1, "yaml_syntax", error=what) from exc


def _may_alias(text: str) -> bool:
    return "&" in text or "*" in text


def _loader(text: str) -> yaml.SafeLoader:
    # libyaml is about 7x faster; it is used only where no anchor or alias can be.
    return _NoAliasLoader(text) if _may_alias(text) else _FastLoader(text)


def _compose(text: str) -> yaml.Node | None:
    """PyYAML's node tree of ``text`` (values not built): raises its problems."""
    loader = _loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node)
            if not isinstance(key, str | int | bool | float | date) or key is None:
                raise _YamlProblem(key_node.start_mark.line + 1, "yaml_key_type")
            if key in result:
                raise _YamlProblem(key_node.start_mark.line + 1, "yaml_duplicate_key", key=key)
            result[key] = _construct(loader, value_node)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, n) for n in node.value]
    return _scalar(loader, node)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except _CONSTRUCTOR_FAULTS as exc:  # "!!int banyak": PyYAML raises a bare ValueError
        line = node.start_mark.line + 1
        raise _YamlProblem(line, "yaml_syntax", error=f"{node.tag}: {node.value!r}") from exc


def _line_of(lines: dict[Path_, int], loc: Iterable[str | int]) -> int:
    path = tuple(loc)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


# --- loading ----------------------------------------------------------------------


@dataclass
class _Parsed:
    name: str
    model: KnowledgeFile
    text: str
    digest: str
    _lines: dict[Path_, int] | None = None

    @property
    def lines(self) -> dict[Path_, int]:
        """Line of every value, read only when a problem in this file needs one."""
        if self._lines is None:
            self._lines = _lines_of(self.text)
        return self._lines


class ParsedFiles(Protocol):
    """Where files already parsed and validated are kept by the SHA-256 of their bytes
    (see :mod:`bot.snapshot`): after an edit, only the edited file is read again."""

    def get(self, digest: str) -> KnowledgeFile | None: ...

    def put(self, digest: str, model: KnowledgeFile) -> None: ...


def _parse_file(
    path: Path, root: Path, problems: list[Problem], cache: ParsedFiles | None = None
) -> _Parsed | None:
    name = str(path.relative_to(root.parent)) if path.is_relative_to(root.parent) else path.name
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problem = Problem(name, 1, "file_too_large", {"size": size, "limit": MAX_FILE_BYTES})
            problems.append(problem)
            return None
        raw = path.read_bytes()
    except OSError as exc:  # no permission, removed while being read, a broken link...
        problems.append(Problem(name, 1, "file_unreadable", {"error": exc.strerror or str(exc)}))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(name, 1, "file_not_utf8", {"error": str(exc)}))
        return None
    digest = hashlib.sha256(raw).hexdigest()
    known = cache.get(digest) if cache else None
    if known is not None:  # these very bytes passed this very validation before
        return _Parsed(name, known, text, digest)
    try:
        data = _read_data(text)
    except _YamlProblem as exc:
        code = exc.code
        if code == "yaml_syntax":
            code = _yaml_hint(str(exc.params.get("error", "")), text, exc.line)
        problems.append(Problem(name, exc.line, code, exc.params))
        return None
    except RecursionError:  # PyYAML's pure-Python composer on absurdly deep nesting
        problems.append(Problem(name, 1, "yaml_syntax", {"error": "nested too deeply"}))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        opened = getattr(exc, "context_mark", None)
        if mark and opened and mark.index >= len(text.rstrip()):
            mark = opened  # an unclosed quote or bracket runs to the end: show where it opened
        line = mark.line + 1 if mark else 1
        detail = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML forbids
            line = text.count("\n", 0, max(exc.position, 0)) + 1
            detail = f"#x{exc.character:04x}: {exc.reason}"
        problems.append(Problem(name, line, _yaml_hint(str(detail), text, line), {"error": detail}))
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem(name, 1, "file_not_mapping"))
        return None
    try:
        model = KnowledgeFile.model_validate(data)
    except ValidationError as exc:
        lines = _lines_of(text)
        for err in exc.errors():
            loc = [part for part in err["loc"] if not isinstance(part, str) or part]
            problems.append(
                Problem(
                    name,
                    _line_of(lines, [str(p) if isinstance(p, str) else p for p in loc]),
                    "schema",
                    {**_where_in(data, loc), "error": _schema_error(err)},
                )
            )
        return None
    if cache:
        cache.put(digest, model)
    return _Parsed(name, model, text, digest)


# PyYAML's problems (English) -> what a staff member should do (check.problem.*).
_YAML_HINTS = (
    ("tab", "yaml_tab"),
    ("mapping values are not allowed", "yaml_colon"),
    ("could not find expected ':'", "yaml_colon"),
    ("did not find expected key", "yaml_indent"),
    ("expected <block end>", "yaml_indent"),
    ("end of stream", "yaml_unclosed"),
    ("did not find expected ',' or ']'", "yaml_unclosed"),
    ("did not find expected ',' or '}'", "yaml_unclosed"),
)


def _yaml_hint(detail: str, text: str = "", line: int = 0) -> str:
    """The problem code that says the fix; a tab on the line at fault is always the
    cause, whatever the parser calls it."""
    lines = text.splitlines()
    if 0 < line <= len(lines) and "\t" in lines[line - 1]:
        return "yaml_tab"
    lowered = detail.lower()
    return next((code for key, code in _YAML_HINTS if key in lowered), "yaml_syntax")


def _where_in(data: Any, loc: list[Any]) -> dict[str, Any]:
    """Where a value is, as staff name it: the entry's id, the figure's number and the
    rest of the path (rendered by the locale: "entri 'wifi-gratis', angka ke-2, value"),
    rather than ``entries[6].figures[1].value``."""
    if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
        try:
            entry_id = data["entries"][loc[1]].get("id", loc[1] + 1)
        except (KeyError, IndexError, TypeError, AttributeError):
            return {"where": _where(loc)}
        found: dict[str, Any] = {"where": _where(loc), "entry": entry_id}
        rest = loc[2:]
        if len(rest) >= 2 and rest[0] == "figures" and isinstance(rest[1], int):
            found["figure"] = rest[1] + 1
            rest = rest[2:]
        found["rest"] = _where(rest)
        return found
    return {"where": _where(loc)}


def _where(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_error(err: Any) -> str:
    """A short error code the locale turns into a sentence (``check.schema_errors.*``)."""
    message = str(err.get("msg", ""))
    if "figure_value_or_text" in message:
        return "figure_value_or_text"
    if "slang_key" in message:
        return "slang_key"
    loc = err.get("loc") or ()
    if loc and loc[-1] == "value" and isinstance(err.get("input"), str):
        return "figure_value_words"  # "value: 362 titik"
    return str(err["type"])


def knowledge_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.yaml") if p.is_file())


def check_knowledge(
    folder: Path, cache: ParsedFiles | None = None, readings: Readings | None = None
) -> tuple[Knowledge | None, list[Problem]]:
    """Validate every file in ``folder``; return the knowledge only if all is well.
    The checks across files (ids, references, questions claimed twice) always run.
    ``readings`` receives the questions as the check read them, for the index build."""
    problems: list[Problem] = []
    files = knowledge_files(folder)
    if not files:
        return None, [Problem(str(folder), 1, "no_files")]
    parsed = [p for p in (_parse_file(f, folder, problems, cache) for f in files) if p]
    if problems:
        return None, problems
    knowledge = _assemble(parsed, problems, readings)
    return (knowledge if not problems else None), problems


def check_knowledge_quietly(
    folder: Path, cache: ParsedFiles | None = None, readings: Readings | None = None
) -> tuple[Knowledge | None, list[Problem]]:
    """:func:`check_knowledge` with the garbage collector paused: parsing a large folder
    makes many short-lived objects, and each full collection would stall the event loop
    of a running bot (they are freed by reference counting anyway)."""
    with gc_paused():
        return check_knowledge(folder, cache, readings)


def load_knowledge(folder: Path) -> Knowledge:
    knowledge, problems = check_knowledge_quietly(folder)
    if knowledge is None:
        raise KnowledgeError(problems)
    return knowledge


def _assemble(
    parsed: list[_Parsed], problems: list[Problem], readings: Readings | None = None
) -> Knowledge:
    def where(p: _Parsed, *path: str | int) -> tuple[str, int]:
        return p.name, _line_of(p.lines, path)

    entries: dict[str, tuple[Entry, _Parsed, int]] = {}
    sources: dict[str, Source] = {}
    topics: dict[str, Topic] = {}
    slang: dict[str, str] = {}
    fillers: set[str] = set()
    details: set[str] = set()
    places: set[str] = set()
    quantities: set[str] = set()
    generic: set[str] = set()
    smalltalk: dict[str, tuple[str, ...]] = {}

    # (kind, id) -> the file and path defining it; its line is read only for a problem
    first: dict[tuple[str, str], tuple[_Parsed, tuple]] = {}

    def claim(table: dict, item_id: str, value: Any, p: _Parsed, path: tuple, kind: str) -> None:
        if item_id in table:
            owner, owner_path = first[(kind, item_id)]
            file, line = where(owner, *owner_path)
            problems.append(
                Problem(
                    *where(p, *path),
                    "duplicate_id",
                    {"kind": kind, "id": item_id, "file": file, "line": line},
                )
            )
        else:
            table[item_id] = value
            first[(kind, item_id)] = (p, path)

    for p in parsed:
        for i, entry in enumerate(p.model.entries):
            claim(entries, entry.id, (entry, p, i), p, ("entries", i, "id"), "entry")
        for i, source in enumerate(p.model.sources):
            claim(sources, source.id, source, p, ("sources", i, "id"), "source")
        for i, topic in enumerate(p.model.topics):
            claim(topics, topic.id, topic, p, ("topics", i, "id"), "topic")
        slang.update(p.model.slang)
        fillers.update(f.lower() for f in p.model.fillers)
        details.update(d.lower() for d in p.model.details)
        places.update(d.lower() for d in p.model.places)
        quantities.update(q.lower() for q in p.model.quantities)
        generic.update(g.lower() for g in p.model.generic)
        for intent in p.model.smalltalk:
            smalltalk[intent.intent] = smalltalk.get(intent.intent, ()) + intent.patterns

    # The plain reading of every question: for the check of questions claimed twice
    # below, and (through ``readings``) for the index build, which needs the same.
    normalizer = Normalizer(slang=slang, fillers=frozenset(fillers))
    readings = readings if readings is not None else Readings()
    readings.words.update(
        (q, fold_words(q)) for entry, _, _ in entries.values() for q in entry.questions
    )
    readings.tokens.update(normalizer.knowledge_tokens(readings.words))
    claimed: dict[str, str] = {}
    tables = {"topics": topics, "sources": sources, "related": entries}
    for entry, p, i in entries.values():
        base = ("entries", i)
        found = [
            *_reference_problems(entry, tables),
            *_claim_problems(entry, sources),
        ]
        for j, question in enumerate(entry.questions):
            owner = claimed.setdefault(" ".join(readings.tokens[question]), entry.id)
            if owner != entry.id:
                params = {"question": question, "id": entry.id, "other": owner}
                found.append((("questions", j), "question_claimed", params))
        problems += [Problem(*where(p, *base, *path), code, params) for path, code, params in found]

    return Knowledge(
        entries=tuple(e for e, _, _ in entries.values()),
        sources=sources,
        topics=topics,
        slang=slang,
        fillers=frozenset(fillers),
        details=frozenset(details),
        places=frozenset(places),
        quantities=frozenset(quantities),
        generic=frozenset(generic),
        smalltalk=smalltalk,
        fingerprint=_fingerprint(p.digest for p in parsed),
    )


_Found = tuple[tuple[str | int, ...], str, dict[str, Any]]  # path in the entry, code, params
_REFERENCE_CODES = {
    "topics": "unknown_topics",
    "sources": "unknown_sources",
    "related": "unknown_related",
}


def _unknown(entry: Entry, path: tuple, field_name: str, ref: str, table: dict) -> _Found:
    close = get_close_matches(ref, list(table), n=3, cutoff=0.5)
    params = {"id": entry.id, "ref": ref, "close": ", ".join(close) or "-"}
    return path, _REFERENCE_CODES[field_name], params


def _reference_problems(entry: Entry, tables: dict[str, dict]) -> Iterator[_Found]:
    """Topics, sources and related entries that do not exist (with the closest ids)."""
    for field_name, table in tables.items():
        for j, ref in enumerate(getattr(entry, field_name)):
            if ref not in table or (field_name == "related" and ref == entry.id):
                yield _unknown(entry, (field_name, j), field_name, ref, table)
    for j, update in enumerate(entry.history):
        for k, ref in enumerate(update.sources):
            if ref not in tables["sources"]:
                yield _unknown(
                    entry, ("history", j, "sources", k), "sources", ref, tables["sources"]
                )


def _claim_problems(entry: Entry, sources: dict[str, Source]) -> Iterator[_Found]:
    """What the entry's claims do not explain: answer numbers no figure holds, a
    figure's source not on the entry, rival figures nobody marked, an invented as-of."""
    for number in _unexplained_numbers(entry, sources):
        yield ("answer",), "answer_number", {"id": entry.id, "number": number}
    for j, fig in enumerate(entry.figures):
        if fig.source is not None and fig.source not in entry.sources:
            params = {"id": entry.id, "n": j + 1, "ref": fig.source}
            yield ("figures", j, "source"), "figure_source", params
    for j, other, code in _unmarked_rivals(entry):
        label = entry.figures[j].label
        yield ("figures", j), code, {"id": entry.id, "n": j + 1, "other": other + 1, "label": label}
    claim_days = _claim_days(entry, sources)
    if entry.as_of is not None and entry.as_of not in claim_days:
        shown = ", ".join(sorted({d.isoformat() for d in claim_days})) or "-"
        params = {"id": entry.id, "date": entry.as_of.isoformat(), "dates": shown}
        yield ("as_of",), "as_of_unsourced", params


def _fingerprint(digests: Iterable[str]) -> str:
    return hashlib.sha256("".join(digests).encode()).hexdigest()[:16]


def folder_fingerprint(folder: Path) -> str:
    """What :attr:`Knowledge.fingerprint` will be for this folder, from its bytes alone
    ("" when a file cannot be read: the check will say which and why)."""
    try:
        digests = [hashlib.sha256(f.read_bytes()).hexdigest() for f in knowledge_files(folder)]
    except OSError:
        return ""
    return _fingerprint(digests)


def allowed_numbers(entry: Entry, sources: dict[str, Source] | None = None) -> set[Decimal]:
    """Numbers an answer may mention: its figures (values, years, and the numbers in
    their labels, texts and periods, e.g. "SMPN 27", "TA 2025/2026"), the numbers in its
    title, and the dates of its claims (as-of, figures, history and sources, so that
    "menurut Tribun, 31 Juli 2025" is allowed)."""
    days = [d for d in (entry.as_of, *(u.date for u in entry.history)) if d]
    days += [f.as_of for f in entry.figures if f.as_of]
    if sources:
        days += [d for s in entry.sources if s in sources for d in _dates(sources[s])]
    allowed: set[Decimal] = set()
    for day in days:
        allowed.update((Decimal(day.year), Decimal(day.day)))
    texts = [entry.title]
    for fig in entry.figures:
        if fig.value is not None:
            allowed.add(fig.value.normalize())
            # "value: 92.6, unit: miliar rupiah" is the answer's "Rp92,6 miliar"
            allowed.update(
                fig.value * _SCALES[word]
                for word in (fig.unit or "").lower().split()
                if word in _SCALES
            )
        if fig.year is not None:
            allowed.add(Decimal(fig.year))
        texts += [fig.label, fig.text or "", fig.period or ""]
    allowed.update(value for text in texts for _, value in _numbers_in(text))
    return {n.normalize() for n in allowed}


_SCALES = {
    "ribu": Decimal(10) ** 3,
    "juta": Decimal(10) ** 6,
    "miliar": Decimal(10) ** 9,
    "milyar": Decimal(10) ** 9,
    "triliun": Decimal(10) ** 12,
}


def _claim_days(entry: Entry, sources: dict[str, Source]) -> set[date]:
    """The days the entry's claims were made: its sources' dates (and the events they
    report), its figures' own dates, its history's dates. "Data per" is one of them."""
    days = {d for s in entry.sources if s in sources for d in _dates(sources[s])}
    days |= {f.as_of for f in entry.figures if f.as_of}
    days |= {u.date for u in entry.history}
    return days


def _dates(source: Source) -> list[date]:
    return [d for d in (source.date, source.event) if d]


def _numbers_in(text: str) -> list[tuple[str, Decimal]]:
    """Numbers as :func:`parse_numbers` reads them, and each part of a number written
    with a slash or a dash ("4/2025", "2025-2029": 4, 2025, 2029)."""
    found = parse_numbers(text)
    found += [(part, Decimal(part)) for part in re.findall(r"\d+", text)]
    return found


def _unexplained_numbers(entry: Entry, sources: dict[str, Source] | None = None) -> Iterator[str]:
    allowed = allowed_numbers(entry, sources)
    texts = [entry.answer, *(u.text for u in entry.history)]
    for text in texts:
        for shown, value in parse_numbers(text):
            if value.normalize() not in allowed:
                yield shown


def _unmarked_rivals(entry: Entry) -> Iterator[tuple[int, int, str]]:
    """Figures sharing a label with an earlier one but not its value, with nothing that
    says why: (position, earlier position, problem code). Sources that disagree must be
    marked with one ``conflict`` key; a series needs a distinct period or year; a
    figure a newer one replaced is marked ``superseded``."""
    seen: dict[str, list[int]] = {}
    for j, fig in enumerate(entry.figures):
        key = " ".join(fig.label.lower().split())
        for i in seen.get(key, []):
            earlier = entry.figures[i]
            if (earlier.value, earlier.text) == (fig.value, fig.text):
                continue
            if earlier.conflict and earlier.conflict == fig.conflict:
                continue
            if earlier.when != fig.when or earlier.superseded or fig.superseded:
                continue
            yield j, i, "figure_conflict"
            break
        seen.setdefault(key, []).append(j)
