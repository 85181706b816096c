"""The answer engine on the bundled knowledge: normalisation, decisions, rendering."""

from __future__ import annotations

import os
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from bot.answers import Format, Renderer
from bot.knowledge import Knowledge, allowed_numbers, load_knowledge
from bot.matcher import MAX_QUESTION_CHARS, DecisionKind, Engine, Index
from bot.text import fold, format_number, parse_numbers
from tests.conftest import MINI_ENTRIES, write_knowledge

# --- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Brp persen warga yg udh punya BPJS??? 🙏",
            ["berapa", "persen", "warga", "sudah", "bpjs"],
        ),
        ("PUSKESMASSS BARUUU dmn", ["puskesmas", "baru", "dimana"]),
        ("stanting di bpn gmn", ["stunting", "di", "balikpapan", "bagaimana"]),
        ("stuntng", ["stunting"]),  # typo repaired onto a known word
        ("anak2 dapet seragam gratisss", ["anak", "seragam", "gratis"]),
        ("98,76% itu apa", ["98,76", "persen", "apa"]),
        ("Rahmad Mas’ud", ["rahmad", "masud"]),
        ("ｐｕｓｋｅｓｍａｓ\u200b baru", ["puskesmas", "baru"]),  # full-width, zero-width space
        ("programnya apa aja", ["program", "apa"]),  # particle dropped onto a known word
        ("mpp", ["mal_pelayanan_publik"]),  # a multi-word expansion is one concept
    ],
)
def test_normalisation(engine: Engine, raw: str, expected: list[str]) -> None:
    tokens = engine.normalize(raw).tokens
    for word in expected:
        assert word in tokens, (raw, tokens)


def test_fold_keeps_numbers_and_drops_markup() -> None:
    assert fold("<b>Data</b> 7.140 orang, 98,76%!") == "b data b 7.140 orang 98,76 persen"
    assert fold("\x00\u202e\u200d") == ""


def test_short_unknown_words_are_not_corrected_into_known_ones(engine: Engine) -> None:
    # "pita" is one letter from "pipa" (pipes): correcting it would invent a topic.
    assert "pipa" not in engine.normalize("tujuan pita maha").tokens


# --- decisions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("brp persen warga yg udh punya bpjs?", "uhc-jaminan-kesehatan"),
        ("puskesmas baru dmn aja", "puskesmas-baru"),
        ("stanting bpn brp skrg", "stunting-prevalensi"),  # a typo, and the rate, not the programme
        ("stunting bpn brp skrg", "stunting-prevalensi"),
        ("wifi gratis msh nyala gk", "wifi-gratis"),
        ("embung aji raden udh jadi?", "embung-aji-raden"),
        ("bendali ampal hulu bisa nampung brp kubik", "bendali-ampal-hulu"),
        ("berapa pekerja rentan yg dpt jaminan ketenagakerjaan", "pekerja-rentan"),
        ("siapa walikota balikpapan", "wali-kota"),
        ("nilai spi bpp brp", "spi-integritas"),
    ],
)
def test_resident_questions_are_answered(engine: Engine, question: str, entry_id: str) -> None:
    decision = engine.decide(question)
    assert decision.kind is DecisionKind.ANSWER
    assert decision.entry is not None and decision.entry.id == entry_id


@pytest.mark.parametrize(
    "question",
    [
        "siapa presiden amerika",
        "walikota surabaya siapa",
        "resep rendang padang",
        "asdfghjkl",
        "Apakah tujuan dibentuknya Pita Maha?",
        "lowongan kerja pemkot",  # generic words ("pemkot") carry no match
        "apa ibukota kalimantan timur",
    ],
)
def test_out_of_scope_is_never_answered(engine: Engine, question: str) -> None:
    assert engine.decide(question).kind is DecisionKind.FALLBACK


@pytest.mark.parametrize(
    "question", ["kenapa air laut asin", "universitas terbaik di indonesia apa"]
)
def test_a_general_question_sharing_a_word_or_two_is_not_answered(
    engine: Engine, question: str
) -> None:
    # "air" and "laut" are in a flood entry, "universitas" in the KRENOVA one: the
    # rest of the question is not, so it is at most offered, never answered.
    assert engine.decide(question).kind is not DecisionKind.ANSWER


@pytest.mark.parametrize(
    ("question", "suggested"),
    [
        ("alamat puskesmas sepinggan baru", "puskesmas-sepinggan-baru"),  # no address stated
        ("jam buka mpp balikpapan", "mal-pelayanan-publik"),
        ("cakupan uhc 2019 brp", "uhc-jaminan-kesehatan"),  # no source states 2019
        ("harga tiket masuk kampung wisata pringgondani brp", "kampung-wisata-pringgondani"),
    ],
)
def test_near_miss_falls_back_and_suggests_what_is_known(
    engine: Engine, question: str, suggested: str
) -> None:
    decision = engine.decide(question)
    assert decision.kind is DecisionKind.FALLBACK
    assert decision.matches and decision.matches[0].entry.id == suggested


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("halo min", "greeting"),
        ("P", "greeting"),
        ("assalamualaikum", "greeting"),
        ("makasih banyak ya 🙏", "thanks"),
        ("terima kasih", "thanks"),
        ("ok sip", "ack"),
        ("🙏🙏🙏", "empty"),
        ("   ", "empty"),
    ],
)
def test_smalltalk(engine: Engine, message: str, intent: str) -> None:
    decision = engine.decide(message)
    assert decision.kind is DecisionKind.SMALLTALK
    assert decision.intent == intent


def test_greeting_with_a_question_answers_the_question(engine: Engine) -> None:
    decision = engine.decide("halo min, puskesmas baru dmn aja?")
    assert decision.kind is DecisionKind.ANSWER
    assert decision.entry is not None and decision.entry.id == "puskesmas-baru"


def test_ambiguous_question_offers_choices(engine: Engine) -> None:
    # Two subjects at once, no entry about both.
    decision = engine.decide("bus dan wifi")
    assert decision.kind is DecisionKind.CHOICES
    assert 2 <= len(decision.matches) <= 3
    assert len({m.entry.id for m in decision.matches}) == len(decision.matches)


def test_long_message_is_matched_on_a_prefix(engine: Engine) -> None:
    question = "puskesmas baru dmn aja " + "tolong " * 5000
    decision = engine.decide(question)
    assert decision.question == question  # the log keeps what was sent
    assert decision.kind is DecisionKind.ANSWER
    assert len(decision.normalized) < MAX_QUESTION_CHARS


def test_decision_reports_latency_and_version(engine: Engine, knowledge: Knowledge) -> None:
    decision = engine.decide("cakupan uhc")
    assert decision.latency_ms >= 0
    assert decision.version == knowledge.fingerprint


def test_reload_swaps_atomically(tmp_path: Path) -> None:
    """Questions asked while the knowledge is swapped back and forth are answered by
    one version or the other, never a mix, never an error."""
    old = load_knowledge(write_knowledge(tmp_path / "old" / "knowledge"))
    renamed = MINI_ENTRIES.replace("title: Embung Aji Raden", "title: Embung Aji Raden (baru)")
    new = load_knowledge(write_knowledge(tmp_path / "new" / "knowledge", entries__yaml=renamed))
    assert old.fingerprint != new.fingerprint
    versions = {old.fingerprint: old, new.fingerprint: new}
    engine = Engine(old)
    stop = threading.Event()
    errors: list[BaseException] = []

    def swapper() -> None:
        try:
            while not stop.is_set():
                engine.swap(new)
                engine.swap(old)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=swapper)
    thread.start()
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 20
        asked = 0
        while (len(seen) < 2 or asked < 300) and time.monotonic() < deadline:
            asked += 1
            decision = engine.decide("embung aji raden udah jadi belum")
            assert decision.kind is DecisionKind.ANSWER
            knowledge = versions[decision.version]
            assert decision.entry is knowledge.entry("embung")  # the object of that version
            seen.add(decision.version)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert seen == set(versions), "both versions should have answered during the swaps"


# --- figures and rendering -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("98.76", "98,76"),
        ("7140", "7.140"),
        ("200000", "200.000"),
        ("77.43", "77,43"),
        ("26", "26"),
    ],
)
def test_indonesian_number_format(value: str, shown: str) -> None:
    assert format_number(Decimal(value)) == shown


def test_parse_numbers_reads_indonesian_notation() -> None:
    values = [v for _, v in parse_numbers("98,76 persen, 7.140 pekerja, 200 ribu m3, 2025")]
    # "m3" is a unit, not a number.
    assert values == [Decimal("98.76"), Decimal("7140"), Decimal("200000"), Decimal("2025")]


def test_every_number_in_every_answer_is_one_of_its_figures(knowledge: Knowledge) -> None:
    for entry in knowledge.entries:
        allowed = allowed_numbers(entry, knowledge.sources)
        for shown, value in parse_numbers(entry.answer):
            assert value.normalize() in allowed, f"{entry.id}: {shown} is not a figure"


def test_every_answer_names_source_and_date(knowledge: Knowledge, renderer: Renderer) -> None:
    for entry in knowledge.entries:
        for fmt in Format:
            text = renderer.answer(entry, knowledge, fmt)
            sources = text[text.index("📰 Sumber: ") :]
            for source in knowledge.sources_of(entry):
                assert source.publisher in sources, (entry.id, source.id)
            if entry.as_of:
                assert f"Data per {renderer.date(entry.as_of)}" in text
            else:  # every source undated: said, never invented
                assert "Data per: sumbernya tidak mencantumkan tanggal" in text
            assert "@TanyaBalikpapanBot" in text  # forwarded answers invite neighbours
            assert entry.title.split()[0] in text


def test_answer_html_and_text(knowledge: Knowledge, renderer: Renderer) -> None:
    entry = knowledge.entry("uhc-jaminan-kesehatan")
    assert entry is not None
    html_text = renderer.answer(entry, knowledge, Format.HTML)
    plain = renderer.answer(entry, knowledge, Format.TEXT)
    title = "Cakupan kepesertaan JKN / BPJS Kesehatan (UHC) Balikpapan"
    assert html_text.startswith(f"<b>{title}</b>\n")
    # Two sources state 98,76 (one line); the older 98,50 is history.
    label = "Cakupan kepesertaan JKN (UHC)"
    assert f"📊 {label}: 98,76 persen — Berandapost.com, 23 Des 2025; " in plain
    assert f"🕘 Sebelumnya:\n• {label}: 98,5 persen — Lintaskaltim.com" in plain
    assert "<" not in plain


def test_html_is_escaped(tmp_path: Path, locale) -> None:
    hostile = MINI_ENTRIES.replace("title: Cakupan UHC", 'title: "Cakupan <UHC> & <b>"')
    knowledge = load_knowledge(write_knowledge(tmp_path / "knowledge", entries__yaml=hostile))
    entry = knowledge.entry("uhc")
    assert entry is not None
    text = Renderer(locale).answer(entry, knowledge, Format.HTML)
    assert "<b>Cakupan &lt;UHC&gt; &amp; &lt;b&gt;</b>" in text


def test_fallback_text_depends_on_whether_the_question_was_logged(
    engine: Engine, knowledge: Knowledge, renderer: Renderer
) -> None:
    decision = engine.decide("siapa presiden amerika")
    assert "teruskan ke petugas" in renderer.decision(decision, knowledge, logged=True)
    assert "teruskan" not in renderer.decision(decision, knowledge, logged=False)


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("who is the mayor of balikpapan", "wali-kota"),
        ("clean water program balikpapan", "air-bersih-spam"),
        ("flood control 2025", "pengendalian-banjir"),
        ("free school uniform", "seragam-gratis-2025"),
    ],
)
def test_code_mixed_english_is_understood(engine: Engine, question: str, entry_id: str) -> None:
    decision = engine.decide(question)
    assert decision.kind is DecisionKind.ANSWER
    assert decision.entry is not None and decision.entry.id == entry_id


def test_population_in_english_is_now_known(engine: Engine) -> None:
    # BPS and Dukcapil figures are in the knowledge now (they differ: both are shown).
    decision = engine.decide("population of balikpapan")
    assert decision.entry is not None and decision.entry.id == "jumlah-penduduk"


def test_how_many_needs_a_figure_about_what_is_asked(engine: Engine) -> None:
    # The stunting entry has a figure, but not about posyandu counts.
    assert engine.decide("berapa jumlah posyandu di balikpapan").kind is DecisionKind.FALLBACK
    # "nilainya" asks for the entry's own figure, whatever its label says.
    decision = engine.decide("balikpapan kota inovatif ya? nilainya brp")
    assert decision.kind is DecisionKind.ANSWER
    assert decision.entry is not None and decision.entry.id == "indeks-inovasi-daerah"


def test_other_places_fall_back_without_pointing_to_balikpapan_entries(engine: Engine) -> None:
    for question in ("walikota surabaya siapa", "berapakah luas Jerman?"):
        decision = engine.decide(question)
        assert decision.kind is DecisionKind.FALLBACK and decision.matches == (), question


def test_real_words_are_not_corrected_as_typos() -> None:
    from bot.matcher import is_indonesian_word
    from bot.text import Normalizer

    normalizer = Normalizer(
        {}, vocabulary={"beritanya": 3, "stunting": 5}, is_word=is_indonesian_word
    )
    # "bertanya" is one letter from a known word, but it is a word, not a typo...
    assert normalizer.normalize("bertanya").tokens == ("bertanya",)
    # ... while a string nobody writes is repaired.
    assert normalizer.normalize("stuntng").tokens == ("stunting",)


def test_greeting_with_a_request_to_ask_is_smalltalk(engine: Engine) -> None:
    assert engine.decide("Selamat sore, saya ingin bertanya.").kind is DecisionKind.SMALLTALK


def test_unseen_colloquial_words_weigh_less_than_named_things(engine: Engine) -> None:
    # "numpuk" (colloquial "menumpuk") is unknown to any word list: not a topic.
    assert engine.decide("sampah numpuk, pemkot ada program persampahan?").entry is not None
    # A capitalised unknown name in a formal question is the topic: not answered.
    assert engine.decide("Dari mana asal kata Monastisisme?").kind is not DecisionKind.ANSWER


def test_line_breaks_separate_words(engine: Engine) -> None:
    # Newlines and tabs are control characters; they must not glue words together.
    assert engine.normalize("puskesmas\nbaru\tdmn").tokens[:2] == ("puskesmas", "baru")


def test_a_replaced_index_is_freed_without_the_garbage_collector(knowledge: Knowledge) -> None:
    """Indexes are frozen out of the collector's sight, so they must hold no reference
    cycles: otherwise every reload would leak the old one."""
    import gc
    import weakref

    engine = Engine(knowledge)
    engine.decide("puskesmas baru dmn")  # fill the caches too
    old = weakref.ref(engine._index)
    gc.disable()
    try:
        engine.swap(knowledge)
        assert old() is None
    finally:
        gc.enable()


def test_decisions_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """Sets iterate in an order that changes with PYTHONHASHSEED; a score summed in set
    order once flipped ties between aliases, so a restart could change an answer."""
    import subprocess
    import sys

    from bot.evaluation import DEFAULT_EVAL, load_cases

    questions = "\n".join(c.q for c in load_cases(DEFAULT_EVAL)) + "\n"
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "BOT_CACHE_DIR": "off"}
        env["BOT_DB_PATH"] = str(tmp_path / "x.db")
        done = subprocess.run(
            [sys.executable, "-m", "bot", "ask", "--json", "-"],
            input=questions,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        outputs.append(done.stdout)
    assert outputs[0].count("\n") == questions.count("\n") > 300
    assert outputs[0] == outputs[1]


def test_reading_knowledge_texts_like_another_normaliser_changes_no_token(
    knowledge: Knowledge,
) -> None:
    """Indexing reuses the first pass's tokens for texts whose words the full normaliser
    reads alike; that shortcut must give exactly what reading every text gives."""
    from collections import Counter

    from bot.matcher import is_indonesian_word
    from bot.text import Normalizer, affix_roots, fold_words

    texts = [t for e in knowledge.entries for t in (e.title, e.answer, *e.questions)]
    texts += ["cakupannya naik", "datanya a b 7", "gratisss", "x" * 50 + "nya", "anak2", "bpp"]
    folded = {t: fold_words(t) for t in texts}
    base = knowledge.normalizer()
    first = base.knowledge_tokens(folded)
    vocabulary = Counter(t for tokens in first.values() for t in tokens)
    full = Normalizer(
        knowledge.slang,
        knowledge.fillers,
        vocabulary=vocabulary,
        roots=affix_roots,
        is_word=is_indonesian_word,
    )
    shortcut = full.knowledge_tokens(folded, like=(base, first))
    assert shortcut == full.knowledge_tokens(folded)
    assert shortcut["cakupannya naik"] == ("cakupan", "naik") != first["cakupannya naik"]


KELURAHAN_ENTRIES = """\
entries:
""" + "".join(
    f"""\
  - id: {kind}-{slug}
    kind: facility
    title: {title} {place}
    answer: Menurut data Pemkot, {title} {place} di Kelurahan {place} melayani warga.
    questions:
      - {title.lower()} {place.lower()}
      - {title.lower()} di {place.lower()} ada
      - info {title.lower()} {place.lower()}
      - layanan {title.lower()} kelurahan {place.lower()}
      - {title.lower()} {place.lower()} buka
    topics: [kesehatan]
    sources: [sumber-uji]
    as_of: 2025-12-22
"""
    for kind, title, place, slug in [
        ("posyandu", "Posyandu", "Gunung Sari", "gunung-sari"),
        ("puskesmas", "Puskesmas", "Telaga Sari", "telaga-sari"),
        ("taman", "Taman", "Telaga Sari", "telaga-sari"),
        ("pasar", "Pasar", "Telaga Sari", "telaga-sari"),
        ("puskesmas", "Puskesmas", "Karang Jati", "karang-jati"),
        ("taman", "Taman", "Karang Jati", "karang-jati"),
    ]
)


def test_a_name_the_best_entry_is_not_about_is_not_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Posyandu Telaga Sari" shares "posyandu" and "sari" with the posyandu of Gunung
    Sari, but Telaga Sari is another kelurahan (named in other entries): answering with
    Gunung Sari's posyandu would be confidently wrong. It is "belum tahu", logged for
    staff, pointing to the nearest entry."""
    knowledge = load_knowledge(
        write_knowledge(tmp_path / "knowledge", entries__yaml=KELURAHAN_ENTRIES)
    )
    engine = Engine(knowledge)
    asked = engine.decide("posyandu telaga sari")
    assert asked.kind is DecisionKind.FALLBACK
    assert [m.entry.id for m in asked.matches] == ["posyandu-gunung-sari"]  # a pointer only
    for question in ("posyandu gunung sari", "info posyandu gunung sari dong"):
        decision = engine.decide(question)
        assert decision.kind is DecisionKind.ANSWER, question
        assert decision.entry is not None and decision.entry.id == "posyandu-gunung-sari"
    assert engine.decide("puskesmas karang jati").entry.id == "puskesmas-karang-jati"
    # Without the check on names, the posyandu of Gunung Sari would be the answer.
    monkeypatch.setattr(Index, "unexplained_names", lambda *_: [])
    unchecked = Engine(knowledge).decide("posyandu telaga sari")
    assert unchecked.kind is DecisionKind.ANSWER
    assert unchecked.entry is not None and unchecked.entry.id == "posyandu-gunung-sari"
