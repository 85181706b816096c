"""``python -m bot review``, run for real on a copy of the knowledge in a temp git repo:
a new source with a strong and a weak new entry, a changed entry, a folder outside git,
an unknown id, broken knowledge."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.knowledge import load_knowledge
from bot.matcher import Engine
from bot.paths import KNOWLEDGE_DIR
from bot.review import variants
from bot.storage import QuestionRecord, Storage, new_key

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

NEW_FILE = """\
sources:
  - id: koran-uji-2026-03-01-pju-tenaga-surya
    publisher: Koran Uji
    title: Lampu Jalan Tenaga Surya di Gang Permukiman
    date: 2026-03-01
    kind: news

entries:
  - id: pju-tenaga-surya
    kind: program
    title: Lampu penerangan jalan umum (PJU) tenaga surya di gang permukiman
    answer: >-
      Menurut Koran Uji, Pemkot Balikpapan memasang lampu penerangan jalan umum (PJU)
      tenaga surya di gang-gang permukiman yang masih gelap.
    questions:
      - lampu jalan tenaga surya di gang
      - pju tenaga surya pemkot
      - gang gelap dipasang lampu jalan gk
      - penerangan jalan umum di permukiman
      - lampu pju solar panel balikpapan
    keywords: [lampu jalan, penerangan jalan, pju, tenaga surya, solar panel, lampu gang,
      gang gelap, lampu tenaga matahari]
    topics: [umum]
    sources: [koran-uji-2026-03-01-pju-tenaga-surya]
    as_of: 2026-03-01

  - id: perpustakaan-keliling
    kind: service
    title: Perpustakaan keliling
    answer: Menurut Koran Uji, Pemkot Balikpapan menjalankan perpustakaan keliling.
    questions:
      - mobil buku keliling lewat kampung kapan
      - pinjam novel gratis tanpa ke gedung
      - perpustakaan keliling
      - baca komik di taman tiap minggu
      - armada literasi pemkot
    topics: [pendidikan]
    sources: [koran-uji-2026-03-01-pju-tenaga-surya]
    as_of: 2026-03-01
"""


def review(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["review", *args], env={})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def log_questions(db: Path, texts: list[str]) -> None:
    async def go() -> None:
        storage = await Storage.open(db)
        for i, text in enumerate(texts):
            storage.log_question(
                QuestionRecord(
                    key=new_key(),
                    asked_at=datetime.now(UTC),
                    chat_type="private",
                    user_id=None,
                    chat_id=None,
                    message_id=i + 1,
                    text=text,
                    normalized=text,
                    decision="fallback",
                    entry_id=None,
                    score=0.0,
                    latency_ms=0.0,
                )
            )
        await storage.close()

    asyncio.run(go())


def _section(out: str, entry_id: str) -> str:
    """The lines of the report about one entry."""
    return out.split(f"━━ {entry_id} ", 1)[1].split("\n\n", 1)[0]


def test_a_strong_and_a_weak_new_entry(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    knowledge = repo / "knowledge"
    (knowledge / "uji-review.yaml").write_text(NEW_FILE, encoding="utf-8")
    db = tmp_path / "bot.db"
    log_questions(db, ["lampu jalan di gang gelap", "resep rendang padang"])

    code, out, err = review(["--knowledge", str(knowledge), "--db", str(db)], capsys)

    assert code == 0, err
    assert out.startswith("Tinjauan 2 entri, dibandingkan dengan commit terakhir (HEAD)")
    assert "log 2 pertanyaan" in out.splitlines()[0]

    strong = _section(out, "pju-tenaga-surya")
    assert strong.startswith("(baru) — Lampu penerangan jalan umum (PJU) tenaga surya")
    assert "tanpa dirinya di indeks: 5/5 menemukan entri ini (100%)" in strong
    assert "b. Variasi otomatis" in strong
    # The logged question no entry answered is answered now, by this one.
    assert "   baru terjawab: 1" in strong
    (logged,) = [line for line in strong.splitlines() if "«lampu jalan di gang gelap»" in line]
    assert logged.endswith("kini dijawab 'pju-tenaga-surya' [log]")
    assert "resep rendang" not in out
    assert "Penilaian: KUAT — " in strong
    assert "Saran:" not in strong

    weak = _section(out, "perpustakaan-keliling")
    assert weak.startswith("(baru) — Perpustakaan keliling")
    assert "   ✗ «pinjam novel gratis tanpa ke gedung» → belum tahu" in weak
    assert "Penilaian: LEMAH — " in weak
    advice = weak.split("Saran:\n", 1)[1]
    keywords = next(line for line in advice.splitlines() if "tambahkan ke keywords" in line)
    for word in ("novel", "komik", "literasi"):
        assert word in keywords
    assert "Tambah contoh pertanyaan (sekarang 5; sebaiknya minimal 8)" in advice

    assert "Ringkasan: pju-tenaga-surya kuat, perpustakaan-keliling lemah" in out
    assert out.rstrip().endswith("muat ulang dengan /muatulang.")


def test_a_changed_entry_alone_is_reviewed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / "knowledge" / "layanan-publik.yaml"
    text = path.read_text(encoding="utf-8")
    marker = "      - wifi gratis msh nyala gk\n"
    assert marker in text
    path.write_text(text.replace(marker, marker + "      - wifi pemkot kpn idup lg\n"), "utf-8")

    code, out, _ = review(["--knowledge", str(repo / "knowledge"), "--db", "nope.db"], capsys)

    assert code == 0
    assert out.startswith("Tinjauan 1 entri")
    assert "━━ wifi-gratis (diubah) — Wifi gratis Pemkot" in out
    assert "log 0 pertanyaan" in out  # a missing log is skipped quietly
    assert "Ringkasan: wifi-gratis " in out


def test_nothing_changed_since_the_last_commit(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = review(["--knowledge", str(repo / "knowledge"), "--db", "nope.db"], capsys)
    assert code == 0
    assert out.startswith("Tidak ada entri yang baru atau berubah sejak commit terakhir.")


def test_outside_git_the_entries_must_be_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, folder)

    code, out, err = review(["--knowledge", str(folder)], capsys)
    assert code == 2 and not out
    assert "git tidak tersedia, atau folder pengetahuan bukan checkout git" in err
    assert "python -m bot review <id-entri>" in err

    code, out, _ = review(["--knowledge", str(folder), "wifi-gratis"], capsys)
    assert code == 0
    assert out.startswith("Tinjauan 1 entri (tanpa commit pembanding: bagian c dilewati).")
    assert "━━ wifi-gratis (disebut)" in out
    assert "c. Dilewati: tidak ada commit pembanding." in out


def test_an_unknown_id_names_the_closest(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = review(["--knowledge", str(repo / "knowledge"), "wifi-gratiss"], capsys)
    assert code == 2 and not out
    assert err.startswith("Entri 'wifi-gratiss' tidak ada. Yang mirip: wifi-gratis")


def test_knowledge_that_fails_check_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "knowledge" / "uji-review.yaml").write_text(
        NEW_FILE.replace("    kind: service", "\tkind: service"), encoding="utf-8"
    )
    code, out, _ = review(["--knowledge", str(repo / "knowledge")], capsys)
    assert code == 1
    assert "uji-review.yaml:" in out
    assert "Tinjauan" not in out


def test_variants_of_a_question() -> None:
    knowledge = load_knowledge(KNOWLEDGE_DIR)
    question = "wifi gratis masih nyala gak"
    words = question.split()
    made = dict(variants(question, knowledge))
    assert set(made) >= {"typo", "order", "filler", "upper"}
    assert made["order"] == "gratis masih nyala gak wifi"
    assert made["upper"] == "WIFI GRATIS MASIH NYALA GAK"
    assert made["filler"].endswith(" min")
    assert "lower" not in made  # the same as the question: never asked twice
    typo = made["typo"].split()
    assert len(typo) == 5 and typo != words
    if "slang" in made:  # a word replaced by a slang key that reads back as that word
        (key,) = set(made["slang"].split()) - set(words)
        assert knowledge.slang[key] in words
    # Every variant still reads as the question does for the engine, or nearly.
    engine = Engine(knowledge)
    assert engine.decide(made["upper"]).entry == engine.decide(question).entry


def test_how_a_changed_decision_concerns_an_entry() -> None:
    from bot.matcher import Decision, DecisionKind, Match
    from bot.review import Change

    knowledge = load_knowledge(KNOWLEDGE_DIR)
    new, other = knowledge.by_id["wifi-gratis"], knowledge.by_id["wifi-gratis-titik"]

    def answer(entry) -> Decision:
        return Decision(DecisionKind.ANSWER, "q", "q", (Match(entry, 80.0, 1.0),))

    fallback = Decision(DecisionKind.FALLBACK, "q", "q")
    choices = Decision(
        DecisionKind.CHOICES, "q", "q", (Match(other, 48.0, 0.8), Match(new, 45.0, 0.8))
    )
    kinds = {
        "stolen": Change("q", "eval", answer(other), answer(new)),
        "answered": Change("q", "log", fallback, answer(new)),
        "lost": Change("q", "eval", answer(new), answer(other)),
        "abstained": Change("q", "eval", answer(other), choices),
        "offered": Change("q", "log", fallback, choices),
    }
    for kind, change in kinds.items():
        assert change.kind_for(new.id) == kind, kind
    # The other entry's view of the same changes.
    assert kinds["stolen"].kind_for(other.id) == "lost"
    assert kinds["lost"].kind_for(other.id) == "stolen"
    assert kinds["answered"].kind_for(other.id) is None
