"""Every number in the knowledge is stated by its sources' fact sheets, and no entry
copies 8 words in a row from one (../shared/sources; skipped where it is absent)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.paths import KNOWLEDGE_DIR
from bot.provenance import SHEETS, Sheets, audit, numbers_of
from tests.conftest import write_knowledge

SHEET = """\
# Wifi gratis nonaktif
- url: https://example.org/wifi
## Facts
- Diskominfo punya 362 titik internet gratis yang dipasang mulai 2025 di enam kecamatan.
- Anggaran 2026 hanya cukup 10 bulan; nilai kontrak Rp1,15 triliun (rencana).
"""

ENTRY = """\
entries:
  - id: wifi
    kind: service
    title: Wifi gratis
    answer: {answer}
    figures:
      - label: Titik wifi
        value: {value}
        unit: titik
      - label: Kontrak
        value: 1.15
        unit: triliun rupiah
    questions: [wifi gratis, internet gratis, hotspot, titik wifi, wifi mati 2026]
    topics: [kesehatan]
    sources: [sumber-uji]
    as_of: 2025-12-22
"""


@pytest.fixture
def sheets(tmp_path: Path) -> Sheets:
    folder = tmp_path / "sheets"
    folder.mkdir()
    (folder / "sumber-uji.md").write_text(SHEET, encoding="utf-8")
    return Sheets.read(folder)


def findings(tmp_path: Path, sheets: Sheets, answer: str, value: str = "362") -> list[str]:
    entries = ENTRY.format(answer=answer, value=value)
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=entries)
    return [f.what for f in audit(folder, sheets)]


def test_numbers_are_read_with_their_scale() -> None:
    assert numbers_of("Rp1,15 triliun") >= {Decimal("1.15"), Decimal("1150000000000")}
    assert numbers_of("7.140 pekerja dan 98,76 persen") >= {Decimal(7140), Decimal("98.76")}


def test_numbers_the_sheet_states_pass(tmp_path: Path, sheets: Sheets) -> None:
    answer = "Diskominfo memasang 362 titik sejak 2025; dana 2026 cukup untuk 10 bulan saja."
    assert findings(tmp_path, sheets, answer) == []


def test_a_number_no_sheet_states_is_found(tmp_path: Path, sheets: Sheets) -> None:
    answer = "Diskominfo memasang 362 titik di 7 kecamatan."
    assert findings(tmp_path, sheets, answer) == ["angka 7 tidak ada di sumber entri ini"]
    assert findings(tmp_path, sheets, "Ada banyak titik.", value="400") == [
        "angka 400 tidak ada di sumber entri ini"
    ]


def test_eight_words_copied_from_a_sheet_are_found(tmp_path: Path, sheets: Sheets) -> None:
    answer = "Diskominfo punya 362 titik internet gratis yang dipasang mulai 2025."
    [what] = findings(tmp_path, sheets, answer)
    assert what.startswith("8 kata sama persis dengan lembar fakta")


@pytest.mark.skipif(not SHEETS.is_dir(), reason="../shared/sources is not beside this checkout")
def test_bundled_knowledge_is_traceable_and_in_our_own_words() -> None:
    problems = [str(f) for f in audit(KNOWLEDGE_DIR, Sheets.read(SHEETS))]
    assert problems == []
