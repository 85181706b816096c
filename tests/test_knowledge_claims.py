"""The public record's conflicts and changes, as residents read them in the bundled
knowledge (INDEX.md "Conflicts" and "Superseded or changed over time")."""

from __future__ import annotations

import pytest

from bot.answers import Format, Renderer
from bot.matcher import DecisionKind, Engine


def reply(engine: Engine, renderer: Renderer, question: str, entry_id: str) -> list[str]:
    decision = engine.decide(question)
    assert decision.kind is DecisionKind.ANSWER, (question, decision.kind, decision.reason)
    assert decision.entry is not None and decision.entry.id == entry_id
    return renderer.answer(decision.entry, engine.knowledge, Format.TEXT).splitlines()


@pytest.mark.parametrize(
    ("question", "entry_id", "lines"),
    [
        (
            "bpn dapet brp penghargaan thn 2025",
            "penghargaan-2025",
            [
                "⚖️ Sumber berbeda tentang Jumlah penghargaan 2025:",
                "• 26 penghargaan — Berandapost.com, 23 Des 2025",
                "• 25 penghargaan — Mediadayak.co.id, 23 Des 2025",
            ],
        ),
        (
            "stunting bpn brp skrg",
            "stunting-prevalensi",
            [
                "⚖️ Sumber berbeda tentang Prevalensi stunting Balikpapan:",
                "• 24,8 persen (SSGI 2024) — Berandapost.com, 13 Nov 2025",
                "• 24,6 persen (data terbaru per Juli 2025, survei tidak disebut) — "
                "TribunKaltim.co, 31 Jul 2025",
            ],
        ),
        (
            "kapasitas bendali ampal hulu brp kubik",
            "bendali-ampal-hulu",
            [
                "⚖️ Sumber berbeda tentang Kapasitas daya tampung air:",
                "• hingga 200.000 meter kubik — Berandapost.com, 23 Des 2025",
                "• hingga 160.000 meter kubik — Radarbalikpapan.com, 26 Agu 2025",
                "• hingga 120.000 meter kubik — Berandapost.com, 30 Mei 2025",
            ],
        ),
    ],
)
def test_sources_that_disagree_are_shown_side_by_side(
    engine: Engine, renderer: Renderer, question: str, entry_id: str, lines: list[str]
) -> None:
    shown = reply(engine, renderer, question, entry_id)
    start = shown.index(lines[0])
    assert shown[start : start + len(lines)] == lines


def test_free_wifi_leads_with_its_newest_state(engine: Engine, renderer: Renderer) -> None:
    shown = reply(engine, renderer, "wifi gratis msh nyala gk", "wifi-gratis")
    assert "tidak menyala sejak awal Januari 2026" in shown[1]
    assert "📊 Titik wifi gratis: 362 titik — Kabargupas.com, 12 Feb 2026" in shown
    history = shown.index("🕘 Sebelumnya:")
    assert shown[history + 1].startswith("• 22 Des 2025: ")
    assert "🗓️ Data per 12 Februari 2026" in shown


def test_rs_sayang_ibu_leads_with_the_contract_ended(engine: Engine, renderer: Renderer) -> None:
    shown = reply(engine, renderer, "rs sayang ibu udh jadi?", "rs-sayang-ibu")
    assert (
        shown[3]
        == "📊 Progres fisik (Februari 2026): sekitar 17 persen — Inibalikpapan.com, 3 Feb 2026"
    )
    history = shown.index("🕘 Sebelumnya:")
    assert "Realisasi anggaran (November 2025): sekitar 20 persen" in shown[history + 1]


def test_bacitra_leads_with_19_buses_and_keeps_the_launch_as_history(
    engine: Engine, renderer: Renderer
) -> None:
    shown = reply(engine, renderer, "bus bacitra ada brp unit", "bacitra-armada")
    assert shown[3] == "📊 Jumlah bus: 19 bus — Lintasbalikpapan.com, 12 Des 2024"
    history = shown.index("🕘 Sebelumnya:")
    assert shown[history + 1] == "• Jumlah bus: 17 bus (saat peluncuran) — IKNPOS.ID, 1 Jul 2024"


def test_a_year_no_source_states_is_not_answered_with_another(engine: Engine) -> None:
    decision = engine.decide("cakupan uhc 2019 brp")
    assert decision.kind is DecisionKind.FALLBACK and decision.because == ("2019",)
    assert decision.matches[0].entry.id == "uhc-jaminan-kesehatan"  # the known years
