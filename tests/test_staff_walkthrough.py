"""A new staff member adds a source and an entry (5 example questions), as the staff
docs say: the three usual mistakes get messages that say the fix, `review` says how
well residents will find it, and a mistyped database is never a false all-clear."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.__main__ import main

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

ENTRY = """\
sources:
  - id: koran-uji-2026-03-02-taman-baca
    publisher: Koran Uji
    title: Taman Baca di Setiap Kelurahan
    date: 2026-03-02
    kind: news

entries:
  - id: taman-baca-kelurahan
    kind: program
    title: Taman baca masyarakat di kelurahan
    answer: >-
      Menurut Koran Uji, Pemkot Balikpapan membuka taman baca masyarakat di 34 kelurahan.
    figures:
      - label: Kelurahan dengan taman baca
        value: 34
        unit: kelurahan
    questions:
      - taman baca di kelurahan ada brp
      - tempat baca gratis di kelurahan
      - taman baca masyarakat balikpapan
      - perpustakaan kecil kelurahan
      - pojok baca kelurahan buka gk
    keywords: [taman baca, pojok baca, tbm, perpustakaan kelurahan, tempat baca]
    topics: [pendidikan]
    sources: [koran-uji-2026-03-02-taman-baca]
    as_of: 2026-03-02
"""


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args, env={})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_new_entry_from_mistakes_to_review(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    knowledge = repo / "knowledge"
    new = knowledge / "taman-baca.yaml"
    check = ["check", "--knowledge", str(knowledge)]

    # 1. A tab for indentation.
    new.write_text(ENTRY.replace("    kind: program", "\tkind: program"), encoding="utf-8")
    code, out, _ = run(check, capsys)
    assert code == 1
    assert "taman-baca.yaml:10: ada karakter tab di baris ini; ganti tab dengan spasi" in out

    # 2. The unit typed into the value.
    new.write_text(ENTRY.replace("value: 34\n", "value: 34 kelurahan\n"), encoding="utf-8")
    code, out, _ = run(check, capsys)
    assert code == 1
    assert (
        "taman-baca.yaml:16: entri 'taman-baca-kelurahan', angka ke-1, value: value hanya "
        "boleh angka: tulis angkanya di 'value:' (misalnya 362) dan satuannya di 'unit:'"
    ) in out

    # 3. A number in the answer that no figure holds, and a mistyped source id.
    wrong = ENTRY.replace("di 34 kelurahan.", "di 34 kelurahan dengan 500 buku.").replace(
        "    sources: [koran-uji-2026-03-02-taman-baca]", "    sources: [koran-uji-taman-baca]"
    )
    new.write_text(wrong, encoding="utf-8")
    code, out, _ = run(check, capsys)
    assert code == 1
    assert (
        "entri 'taman-baca-kelurahan': angka 500 di answer tidak ada di figures entri ini; "
        "tambahkan figure dengan 'value: 500'"
    ) in out
    assert "(yang mirip: koran-uji-2026-03-02-taman-baca" in out

    # Fixed: check passes, and review says how residents will find it.
    new.write_text(ENTRY, encoding="utf-8")
    code, out, _ = run(check, capsys)
    assert code == 0 and "Pengetahuan valid" in out
    code, out, _ = run(["review", "--knowledge", str(knowledge)], capsys)
    assert code == 0
    assert "━━ taman-baca-kelurahan (baru)" in out
    assert "Penilaian: " in out and "/muatulang" in out

    # The log is on the server: a mistyped path is refused, never an empty all-clear.
    code, out, err = run(["unanswered", "--db", str(tmp_path / "bot.db")], capsys)
    assert code == 2 and "tidak ada — salin database dari server" in err
    assert not (tmp_path / "bot.db").exists()
