"""Any Unicode string, however hostile, goes through the engine without an exception,
what the renderer produces is always valid Telegram HTML, and no damage to a knowledge
file makes `check` crash."""

from __future__ import annotations

import heapq
import html
import re
import tempfile
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.answers import Format, Renderer
from bot.knowledge import Entry, Figure, Knowledge, Source, check_knowledge
from bot.matcher import MAX_QUESTION_CHARS, DecisionKind, Engine, top_weighted
from bot.telegram.callbacks import MAX_BYTES, decode, encode
from bot.telegram.messages import MAX_MESSAGE_CHARS, split_text
from bot.text import MAX_TOKENS, fold
from tests.conftest import MINI_ENTRIES, write_knowledge

CASES = settings(
    max_examples=2000,
    deadline=2000,  # generous: a bound against hangs, not a speed test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Everything Unicode has, weighted towards what breaks parsers: controls, zero-width
# and bidi marks, combining marks, emoji, RTL scripts, HTML/Markdown syntax.
hostile_chars = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(list("\x00\x07\x1b\u200b\u200c\u200d\u200e\u202e\u2066\ufeff\u0301")),
    st.sampled_from(["<", ">", "&", '"', "'", "*", "_", "`", "[", "]", "(", ")", "~", "|"]),
    st.sampled_from(list("🙏👍🏽🇮🇩❤️‍🔥😂") + list("مرحبا") + list("שלום") + list("漢字")),
)
hostile_text = st.text(hostile_chars, max_size=400)
LONG = "puskesmas " * 10_000  # 100,000 characters
BARE_AMPERSAND = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


class TelegramHtml(HTMLParser):
    """Checks what Telegram's HTML parser needs: only known tags, properly nested."""

    allowed = frozenset({"b", "i"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.allowed or attrs:
            self.errors.append(f"tag {tag}")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced {tag}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_valid_html(markup: str) -> str:
    parser = TelegramHtml()
    parser.feed(markup)
    parser.close()
    assert not parser.errors and not parser.stack, (parser.errors, markup[:200])
    # Every "<" and "&" that is not markup must be escaped.
    stripped = markup.replace("<b>", "").replace("</b>", "").replace("<i>", "").replace("</i>", "")
    assert "<" not in stripped and ">" not in stripped
    assert not BARE_AMPERSAND.search(markup), markup[:200]
    assert html.unescape(stripped) == "".join(parser.text)
    return "".join(parser.text)


@CASES
@given(text=hostile_text)
@example(text="")
@example(text=LONG)
@example(text="🙏" * 5000)
@example(text="<b>halo</b> *bold* _it_ [link](http://x) `code`")
def test_normaliser_accepts_anything(engine: Engine, text: str) -> None:
    tokens = engine.normalize(text).tokens
    assert len(tokens) <= MAX_TOKENS
    assert all(t and not any(c.isspace() for c in t) for t in tokens)
    assert fold(text) == fold(fold(text))  # folding is idempotent


@CASES
@given(text=hostile_text)
@example(text=LONG)
@example(text="\x00" * 1000)
def test_engine_decides_anything(engine: Engine, knowledge: Knowledge, text: str) -> None:
    decision = engine.decide(text)
    assert decision.kind in DecisionKind
    assert 0 <= decision.score <= 100
    assert len(decision.matches) <= 3
    assert len(decision.normalized) <= MAX_QUESTION_CHARS
    if decision.kind is DecisionKind.ANSWER:
        assert decision.entry is not None and knowledge.entry(decision.entry.id) is decision.entry


@CASES
@given(text=hostile_text)
def test_rendered_decisions_are_valid_html(
    engine: Engine, knowledge: Knowledge, renderer: Renderer, text: str
) -> None:
    decision = engine.decide(text)
    assert_valid_html(renderer.decision(decision, knowledge, Format.HTML, logged=True))
    plain = renderer.decision(decision, knowledge, Format.TEXT)
    assert plain.strip()


@CASES
@given(
    title=hostile_text.filter(str.strip),
    answer=hostile_text.filter(str.strip),
    label=hostile_text.filter(str.strip),
    publisher=hostile_text.filter(str.strip),
)
def test_any_knowledge_text_renders_as_valid_escaped_html(
    renderer: Renderer, title: str, answer: str, label: str, publisher: str
) -> None:
    source = Source(id="s", publisher=publisher[:200], title=title[:200], date=date(2025, 12, 22))
    entry = Entry(
        id="x",
        kind="program",
        title=title[:200],
        answer=answer[:2000],
        figures=(Figure(label=label[:200], text="puluhan ribu"),),
        questions=("a", "b", "c", "d", "e"),
        topics=("t",),
        sources=("s",),
        as_of=date(2025, 12, 22),
    )
    knowledge = Knowledge(
        entries=(entry,),
        sources={"s": source},
        topics={},
        slang={},
        fillers=frozenset(),
        details=frozenset(),
        places=frozenset(),
        quantities=frozenset(),
        smalltalk={},
        fingerprint="f",
    )
    shown = assert_valid_html(renderer.answer(entry, knowledge, Format.HTML))
    assert shown == renderer.answer(entry, knowledge, Format.TEXT)


@CASES
@given(
    data=st.one_of(st.text(max_size=100), st.binary(max_size=80).map(lambda b: b.decode("latin-1")))
)
@example(data="a:" + "x" * 70)
@example(data="f:+:abc:uhc-jaminan-kesehatan")
def test_callback_data_is_parsed_strictly(data: str) -> None:
    parsed = decode(data)
    if parsed is not None:
        assert encode(parsed) == data  # only exact, canonical data is accepted
        assert len(data.encode()) <= MAX_BYTES


@CASES
@given(text=st.text(st.characters(codec="utf-8"), max_size=20_000))
@example(text="a" * 10_000)
@example(text=("baris pendek\n" * 800))
def test_split_text_keeps_every_chunk_within_the_limit(text: str) -> None:
    chunks = split_text(text)
    assert all(len(c) <= MAX_MESSAGE_CHARS for c in chunks)
    joined = "".join(chunks)
    assert "".join(joined.split()) == "".join(text.split())  # nothing lost but breaks


@given(
    hits=st.dictionaries(
        st.integers(min_value=0, max_value=5000),
        st.sampled_from([0.5, 1.0, 1.5, 2.25, 3.0]),  # few values: many ties
        max_size=300,
    ),
    n=st.integers(min_value=1, max_value=30),
)
def test_top_weighted_is_nlargest_with_ties_to_the_lowest_position(
    hits: dict[int, float], n: int
) -> None:
    expected = heapq.nlargest(n, hits, key=lambda i: (hits[i], -i))
    assert top_weighted(hits, n) == expected


# What a hand edit breaks YAML with: indentation, colons, quotes, brackets, tags,
# anchors, tabs, stray numbers and times, control characters, document markers.
yaml_damage = st.sampled_from(
    [" ", "  ", "\t", "\n", ":", ": ", "- ", "'", '"', "[", "]", "{", "}", ",", "#", "&a ",
     "*a", "!!int ", "!x ", "? ", "---\n", "...", "|", ">-", "7:30", "0812", "1e3", "~",
     "\x07", "\ufeff", "%YAML 1.1\n", "@", "`", "\\", "null", "yes"]
)  # fmt: skip


@given(
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 3), yaml_damage), min_size=1, max_size=4
    )
)
@settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
def test_no_damage_to_a_knowledge_file_crashes_check(
    edits: list[tuple[float, int, str]],
) -> None:
    """Each edit deletes a few characters somewhere and types something else: `check`
    either accepts the file or names problems at lines of the file, never raises."""
    text = MINI_ENTRIES
    for where, cut, typed in edits:
        at = int(where * len(text))
        text = text[:at] + typed + text[at + cut :]
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_knowledge(Path(tmp) / "knowledge", entries__yaml=text)
        knowledge, problems = check_knowledge(folder)
    assert (knowledge is None) == bool(problems)
    last_line = text.count("\n") + 2  # a problem at the end of the file
    assert all(1 <= p.line <= last_line for p in problems if p.file.endswith("entries.yaml"))
