"""Claims: each figure says who states it and for when; rival claims are shown side by
side, a newer source leads over the one it replaced, and `check` refuses a rival
figure nobody marked."""

from __future__ import annotations

from pathlib import Path

from bot.answers import Format, Renderer
from bot.knowledge import check_knowledge, load_knowledge
from tests.conftest import write_knowledge

SOURCES = """\
sources:
  - id: tribun-2025-07-31
    publisher: TribunKaltim.co
    title: Stunting naik
    date: 2025-07-31
    url: https://example.org/tribun
    kind: news
  - id: berandapost-2025-11-13
    publisher: Berandapost.com
    title: SSGI 2024
    date: 2025-11-13
    kind: news
    note: Mengutip Dinas Kesehatan.
  - id: katakaltim-2025-12-22
    publisher: Katakaltim.com
    title: Ekspos akhir tahun
    date: 2025-12-22
  - id: kabargupas-2026-02-12
    publisher: Kabargupas.com
    title: Wifi nonaktif
    date: 2026-02-12
  - id: tanpa-tanggal
    publisher: Niaga.asia
    title: Halaman tanpa tanggal
    date: null
"""

ENTRIES = """\
entries:
  - id: stunting
    kind: statistic
    title: Prevalensi stunting
    answer: >-
      Angka prevalensi stunting Balikpapan berbeda antar-sumber: Berandapost (13 November
      2025) menulis 24,8 persen menurut SSGI 2024, sedangkan TribunKaltim (31 Juli 2025)
      menulis 24,6 persen.
    figures:
      - label: Prevalensi stunting
        value: 24.8
        unit: persen
        period: SSGI 2024
        source: berandapost-2025-11-13
        conflict: stunting-2024
      - label: Prevalensi stunting
        value: 24.6
        unit: persen
        source: tribun-2025-07-31
        conflict: stunting-2024
      - label: Prevalensi stunting
        value: 21.6
        unit: persen
        year: 2023
        source: tribun-2025-07-31
    questions: [stunting bpn brp, angka stunting, prevalensi stunting, balita stunting,
      stunting naik]
    topics: [kesehatan]
    sources: [berandapost-2025-11-13, tribun-2025-07-31]
    as_of: 2025-11-13
  - id: wifi
    kind: service
    title: Wifi gratis
    answer: >-
      Menurut Diskominfo (Kabargupas, 12 Februari 2026), 362 titik wifi gratis tidak aktif
      sejak awal Januari 2026; kontrak penyedia direncanakan mulai Maret 2026.
    figures:
      - label: Titik wifi gratis terpasang
        value: 362
        unit: titik
        source: kabargupas-2026-02-12
      - label: Anggaran layanan 2026 cukup untuk
        value: 10
        unit: bulan
        year: 2026
        source: kabargupas-2026-02-12
      - label: Titik wifi gratis aktif
        value: 362
        unit: titik
        source: katakaltim-2025-12-22
        superseded: true
    history:
      - date: 2025-12-22
        text: Pada ekspos akhir tahun, Pemkot menyebut 362 titik wifi gratis tersedia.
        sources: [katakaltim-2025-12-22]
    questions: [wifi gratis msh nyala gk, internet gratis, hotspot pemkot, titik wifi, wifi mati]
    topics: [kesehatan]
    sources: [kabargupas-2026-02-12, katakaltim-2025-12-22]
    as_of: 2026-02-12
  - id: penduduk
    kind: statistic
    title: Jumlah penduduk
    answer: Menurut proyeksi BPS, penduduk Balikpapan 725.440 jiwa pada 2025.
    figures:
      - label: Penduduk (proyeksi BPS)
        value: 725440
        unit: jiwa
        year: 2025
    questions: [jumlah penduduk, penduduk bpn, berapa warga, populasi kota,
      warga balikpapan ada brp]
    topics: [kesehatan]
    sources: [tanpa-tanggal]
    as_of: null
"""


def folder(tmp_path: Path, entries: str = ENTRIES) -> Path:
    return write_knowledge(tmp_path / "knowledge", sources__yaml=SOURCES, entries__yaml=entries)


def test_rival_claims_are_shown_side_by_side_with_their_sources(
    tmp_path: Path, renderer: Renderer
) -> None:
    knowledge = load_knowledge(folder(tmp_path))
    text = renderer.answer(knowledge.by_id["stunting"], knowledge, Format.TEXT)
    assert text.splitlines()[2:8] == [
        "",
        "⚖️ Sumber berbeda tentang Prevalensi stunting:",
        "• 24,8 persen (SSGI 2024) — Berandapost.com, 13 Nov 2025",
        "• 24,6 persen — TribunKaltim.co, 31 Jul 2025",
        "📊 Prevalensi stunting: 21,6 persen (2023) — TribunKaltim.co, 31 Jul 2025",
        "",
    ]
    assert "🗓️ Data per 13 November 2025" in text


def test_a_newer_source_leads_and_the_older_claim_is_history(
    tmp_path: Path, renderer: Renderer
) -> None:
    knowledge = load_knowledge(folder(tmp_path))
    text = renderer.answer(knowledge.by_id["wifi"], knowledge, Format.TEXT)
    lines = text.splitlines()
    assert lines[1].startswith("Menurut Diskominfo (Kabargupas, 12 Februari 2026)")
    assert lines[3:8] == [
        "📊 Titik wifi gratis terpasang: 362 titik — Kabargupas.com, 12 Feb 2026",
        # the label names its year: "(2026)" is not repeated
        "📊 Anggaran layanan 2026 cukup untuk: 10 bulan — Kabargupas.com, 12 Feb 2026",
        "🕘 Sebelumnya:",
        "• Titik wifi gratis aktif: 362 titik — Katakaltim.com, 22 Des 2025",
        "• 22 Des 2025: Pada ekspos akhir tahun, Pemkot menyebut 362 titik wifi gratis "
        "tersedia. (Katakaltim.com)",
    ]
    assert "🗓️ Data per 12 Februari 2026" in text


def test_an_undated_source_says_so(tmp_path: Path, renderer: Renderer) -> None:
    knowledge = load_knowledge(folder(tmp_path))
    text = renderer.answer(knowledge.by_id["penduduk"], knowledge, Format.TEXT)
    assert "Niaga.asia, “Halaman tanpa tanggal” (tanpa tanggal)" in text
    assert "📊 Penduduk (proyeksi BPS): 725.440 jiwa (2025)" in text
    # No date is invented for "data per".
    assert "🗓️ Data per: sumbernya tidak mencantumkan tanggal" in text


def test_check_refuses_a_data_per_date_no_source_gives(tmp_path: Path, renderer: Renderer) -> None:
    invented = ENTRIES.replace("    as_of: null", "    as_of: 2025-12-31")
    knowledge, problems = check_knowledge(folder(tmp_path, invented))
    assert knowledge is None
    [message] = [renderer.problem(p) for p in problems]
    assert "entri 'penduduk': as_of 2025-12-31 bukan tanggal sumber mana pun" in message
    assert "'as_of: null' bila sumbernya tak bertanggal" in message


def test_check_refuses_a_rival_figure_nobody_marked(tmp_path: Path, renderer: Renderer) -> None:
    # Both claim the SSGI 2024 rate, with different values, and nothing says so.
    unmarked = ENTRIES.replace("        conflict: stunting-2024\n", "", 2).replace(
        "        value: 24.6\n        unit: persen\n",
        "        value: 24.6\n        unit: persen\n        period: SSGI 2024\n",
    )
    knowledge, problems = check_knowledge(folder(tmp_path, unmarked))
    assert knowledge is None
    [problem] = problems
    message = renderer.problem(problem)
    assert message.startswith("knowledge/entries.yaml:15: ")
    assert "entri 'stunting', angka ke-2 ('Prevalensi stunting')" in message
    assert "conflict: <kunci-sama>" in message and "superseded: true" in message


def test_check_wants_a_figures_source_listed_on_its_entry(
    tmp_path: Path, renderer: Renderer
) -> None:
    stray = ENTRIES.replace(
        "    sources: [berandapost-2025-11-13, tribun-2025-07-31]",
        "    sources: [tribun-2025-07-31]",
    )
    knowledge, problems = check_knowledge(folder(tmp_path, stray))
    assert knowledge is None
    messages = [renderer.problem(p) for p in problems]
    assert (
        "knowledge/entries.yaml:14: entri 'stunting', angka ke-1: sumber "
        "'berandapost-2025-11-13' belum dicantumkan di 'sources:' entri ini; tambahkan di sana"
    ) in messages
    # ... and its date is no longer one of the entry's sources' dates either.
    assert any("as_of 2025-11-13 bukan tanggal sumber" in m for m in messages)


def test_an_answer_may_cite_its_sources_dates_but_no_other_number(
    tmp_path: Path, renderer: Renderer
) -> None:
    # "13 November 2025" and "31 Juli 2025" are the sources' dates: allowed above.
    wrong = ENTRIES.replace("menulis 24,6 persen.", "menulis 24,6 persen dari 17 kecamatan.")
    knowledge, problems = check_knowledge(folder(tmp_path, wrong))
    assert knowledge is None
    assert ["angka 17" in renderer.problem(p) for p in problems] == [True]


def test_the_staff_guide_documents_every_field_of_a_claim() -> None:
    from bot.knowledge import Entry, Figure, Source, Update
    from bot.paths import ROOT

    guide = (ROOT / "docs" / "KNOWLEDGE.md").read_text(encoding="utf-8")
    for model in (Source, Figure, Entry, Update):
        for name in model.model_fields:
            assert f"{name}:" in guide or f"`{name}`" in guide, f"{model.__name__}.{name}"


def test_an_unknown_source_in_history_is_named_with_the_closest(
    tmp_path: Path, renderer: Renderer
) -> None:
    wrong = ENTRIES.replace(
        "        sources: [katakaltim-2025-12-22]", "        sources: [katakaltim-2025]"
    )
    knowledge, problems = check_knowledge(folder(tmp_path, wrong))
    assert knowledge is None
    [message] = [renderer.problem(p) for p in problems]
    assert (
        "sumber 'katakaltim-2025' tidak ada di sources.yaml (yang mirip: katakaltim-2025-12-22)"
        in message
    )
