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
