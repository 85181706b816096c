"""Amounts are written by the locale: its number marks, units and qualifiers."""

from __future__ import annotations

from decimal import Decimal

from bot.answers import Renderer
from bot.knowledge import Figure
from bot.locale import Locale


def test_indonesian_amounts_read_as_before(locale: Locale) -> None:
    renderer = Renderer(locale)
    figure = Figure(label="Cakupan", value=Decimal("98.76"), unit="persen", qualifier="sekitar")
    assert renderer.amount(figure) == "sekitar 98,76 persen"
    assert renderer.amount(Figure(label="Warga", value=Decimal(7140), unit="jiwa")) == "7.140 jiwa"
    assert renderer.amount(Figure(label="Tanpa satuan", value=Decimal(3))) == "3"
    assert renderer.amount(Figure(label="Teks", text="puluhan ribu", unit="orang")) == (
        "puluhan ribu orang"
    )


def test_another_locale_swaps_marks_and_words_and_may_put_the_unit_first(locale: Locale) -> None:
    strings = {
        **{k: locale.t(k) for k in sorted(locale.keys())},
        "format.decimal_mark": ".",
        "format.thousands_mark": ",",
        "units.persen": "%",
        "units.triliun rupiah": "IDR {value} trillion",
        "qualifiers.lebih dari": "more than",
    }
    english = Renderer(Locale(strings, "en"))
    share = Figure(label="Cover", value=Decimal("98.76"), unit="persen", qualifier="lebih dari")
    assert english.amount(share) == "more than 98.76 %"
    budget = Figure(label="Budget", value=Decimal("2.25"), unit="triliun rupiah")
    assert english.amount(budget) == "IDR 2.25 trillion"
    assert english.number(Decimal(1234567)) == "1,234,567"
    assert english.amount(Figure(label="x", value=Decimal(1), unit="satuan baru")) == (
        "1 satuan baru"  # a unit the locale does not know is written as it is
    )


def test_the_english_view_keeps_ids_figures_and_sources_and_changes_only_words(
    locale: Locale,
) -> None:
    from bot.english import english_view, untranslated
    from bot.knowledge import load_knowledge
    from bot.paths import KNOWLEDGE_DIR

    knowledge = load_knowledge(KNOWLEDGE_DIR)
    english = english_view(knowledge)
    assert [e.id for e in english.entries] == [e.id for e in knowledge.entries]
    assert english.fingerprint != knowledge.fingerprint  # caches keep the two apart
    for before, after in zip(knowledge.entries, english.entries, strict=True):
        assert after.sources == before.sources and after.as_of == before.as_of
        assert [f.value for f in after.figures] == [f.value for f in before.figures]
        assert [f.source for f in after.figures] == [f.source for f in before.figures]
        if before.en is None:
            assert after is before and before.id in untranslated(knowledge)
        else:
            assert (after.title, after.answer) == (before.en.title, before.en.answer)
            assert set(before.keywords) <= set(after.keywords)  # names are shared
            assert all(f.en is None or f.label == f.en.label for f in after.figures)

    iid = english.entry("indeks-inovasi-daerah")
    assert iid is not None
    text = Renderer(locale).answer(iid, english)
    assert "Regional Innovation Index (IID): 60,94" in text  # Indonesian marks here
    assert "Berandapost" in text and "Data per 22 Desember 2025" in text


def test_the_english_locale_has_every_key_and_placeholder_of_the_indonesian_one(
    locale: Locale,
) -> None:
    from bot.locale import placeholders

    english = Locale.load("en")
    assert english.keys() == locale.keys()
    for key in sorted(locale.keys()):
        # A unit may take the number inside it ("IDR {value} trillion").
        extra = {"value"} if key.startswith("units.") else set()
        assert placeholders(english.t(key)) - extra == placeholders(locale.t(key)), key
    assert english.t("format.decimal_mark") == "." and english.t("format.thousands_mark") == ","
    assert Renderer(english).amount(
        Figure(label="x", value=Decimal("2.25"), unit="triliun rupiah")
    ) == english.t("units.triliun rupiah").replace("{value}", "2.25")
