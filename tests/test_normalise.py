"""How residents write: stretched letters, abbreviations, negations and slang read as the
word meant; real words never "repaired" into other words; `explain` shows it all."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.matcher import Engine
from bot.paths import ROOT
from bot.text import fold

LEXICON = ROOT.parent / "shared" / "eval" / "lexicon" / "indocollex-informal-formal.tsv"


def tokens(engine: Engine, text: str) -> tuple[str, ...]:
    return engine.normalize(text).tokens


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("kerennn", "keren"),  # a run of three letters
        ("udahh", "sudah"),  # a run of two at the end, then slang
        ("bgttt", "banget"),
        ("gratisss", "gratis"),
        ("dngn", "dengan"),  # vowels dropped
        ("blom", "belum"),
        ("taon", "tahun"),
        ("diadainnya", "diadakan"),  # "-in" for "-kan" under a particle
        ("nerima", "menerima"),  # a nasal form onto the standard verb the knowledge uses
        ("komisi III", "komisi iii"),  # a numeral is not a stretched "ii"
        ("dua kelurahan", "2 kelurahan"),  # number words are their digits
        ("Rp90 miliar", "rp 90 miliar"),
    ],
)
def test_residents_spelling_is_read_as_the_word_meant(
    engine: Engine, typed: str, read: str
) -> None:
    assert " ".join(tokens(engine, typed)) == read


@pytest.mark.parametrize("typed", ["g", "ga", "gak", "gk", "nggak", "kagak", "gabisa", "gada"])
def test_negations_stay_negations(engine: Engine, typed: str) -> None:
    assert "tidak" in " ".join(tokens(engine, f"wifi {typed} nyala")).replace("_", " ")


@pytest.mark.parametrize(
    "word", ["meninggal", "kenangan", "luar", "kaya", "mengurus", "pesen", "laper", "mksih"]
)
def test_a_real_word_is_never_guessed_into_another(engine: Engine, word: str) -> None:
    normalized = engine.normalize(word)
    assert not normalized.repairs, normalized
    assert normalized.tokens not in {("tinggal",), ("penanganan",), ("keluar",), ("persen",)}
    assert normalized.tokens not in {("kekayaan",), ("pengurusan",), ("lapor",), ("masih",)}


def test_this_domains_abbreviations_keep_their_reading(engine: Engine) -> None:
    assert tokens(engine, "kk") == ("kartu_keluarga",)
    for level in ("smp", "sma", "tk"):
        assert tokens(engine, level) == (level,)
    assert tokens(engine, "ngaku") == ("mengaku",)  # not "ng" + "aku" (= saya)


@pytest.mark.skipif(not LEXICON.exists(), reason="../shared/eval/lexicon is absent")
def test_indocollex_coverage_on_city_service_words(engine: Engine) -> None:
    """Reported, and kept from slipping back: pairs whose formal side is a single word
    the knowledge uses ("city-service words"), read to the same tokens as that word;
    and no formal word Indonesian text really uses is rewritten by a repair."""
    from wordfreq import zipf_frequency

    vocabulary = set(engine.index._weight)
    with LEXICON.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))[1:]
    pairs = [
        (informal, formal)
        for informal, formal in rows
        if len(fold(formal).split()) == 1
        and fold(formal) in vocabulary
        and fold(informal) != fold(formal)
        and informal.isalpha()
    ]
    same = sum(
        1 for informal, formal in pairs if tokens(engine, informal) == tokens(engine, formal)
    )
    coverage = same / len(pairs)
    print(f"IndoCollex city-service coverage: {same}/{len(pairs)} = {coverage:.1%}")
    assert coverage >= 0.5
    real = {
        fold(formal)
        for _, formal in rows
        if fold(formal).isalpha() and zipf_frequency(fold(formal), "id") >= 3.5
    }
    rewritten = [word for word in sorted(real) if engine.normalize(word).repairs]
    assert rewritten == []


def test_explain_shows_repairs_candidates_and_the_rule() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "explain", "--json", "puskesams baru dmn"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    found = json.loads(result.stdout)
    assert found["tokens"][:2] == ["puskesmas", "baru"]
    assert {"typed": "puskesams", "became": ["puskesmas"], "rule": "spelling"} in found["steps"]
    assert found["candidates"] and found["candidates"][0]["fields"]["title"]
    assert found["kind"] == "answer" and found["reason"] == "confident"
    assert found["answer"] == found["candidates"][0]["id"]

    text = subprocess.run(
        [sys.executable, "-m", "bot", "explain", "alamat puskesmas sepinggan baru"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    ).stdout
    assert "Keputusan: fallback — menanyakan rincian" in text
    assert "karena kata: alamat" in text
    assert "Traceback" not in text


def test_words_read_are_the_same_in_the_knowledge(tmp_path: Path) -> None:
    """A long answer is read whole: a fact in its last sentence still finds it."""
    from bot.knowledge import load_knowledge
    from tests.conftest import write_knowledge

    long_answer = "Menurut paparan Pemkot, " + "program berjalan baik; " * 40 + "kata Zamrudin."
    entries = (
        "entries:\n  - id: panjang\n    kind: program\n    title: Program panjang\n"
        f"    answer: {long_answer}\n"
        "    questions: [program panjang, satu, dua, tiga, empat]\n"
        "    topics: [kesehatan]\n    sources: [sumber-uji]\n    as_of: 2025-12-22\n"
    )
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=entries)
    engine = Engine(load_knowledge(folder))
    assert "zamrudin" in engine.index._by_id["panjang"].weak


def test_english_normaliser_reads_plurals_and_suffixes_onto_known_words() -> None:
    from bot.text import Normalizer, english_forms, english_roots

    assert "bus" in english_forms("buses") and "school" in english_forms("schools")
    assert "city" in english_forms("cities")
    assert "open" in english_roots("opening") and "plan" in english_roots("planned")
    english = Normalizer(
        {}, vocabulary={"bus": 3, "school": 2, "open": 1}, roots=english_roots, language="en"
    )
    assert english.normalize("how many buses and schools").tokens[-3:] == ("bus", "and", "school")
    assert "open" in english.normalize("opening").tokens
    # No Indonesian morphology in English: "dikembangin" stays what it is.
    assert english.normalize("dikembangin").tokens == ("dikembangin",)
