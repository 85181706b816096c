"""Which language a resident wrote in, on short, slangy, code-mixed messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from bot.knowledge import Knowledge
from bot.language import detect, knowledge_names

LABELLED = Path(__file__).parent / "eval" / "lang.yaml"


def detector(knowledge: Knowledge) -> Callable[..., str]:
    slang = frozenset(knowledge.slang)
    names = knowledge_names([t for e in knowledge.entries for t in (e.title, *e.keywords)])
    return lambda text, hint=None: detect(text, slang, hint, names)


def test_the_issue_examples(knowledge: Knowledge) -> None:
    lang = detector(knowledge)
    assert lang("brp tiket pantai manggar") == "id"
    assert lang("how much is the Manggar beach ticket") == "en"
    assert lang("wifi gratis msh nyala gk") == "id"
    assert lang("stunting bpn brp skrg") == "id"
    assert lang("is the free wifi still on") == "en"
    assert lang("where is puskesmas klandasan ilir") == "en"


def test_the_users_language_code_only_breaks_a_tie(knowledge: Knowledge) -> None:
    lang = detector(knowledge)
    assert lang("manggar", hint="en") == "en" and lang("manggar", hint="id") == "id"
    assert lang("manggar") == "id"  # no hint: the bot's own language
    assert lang("berapa cakupan bpjs di balikpapan", hint="en-GB") == "id"
    assert lang("how many residents have bpjs", hint="id") == "en"


def test_accuracy_on_labelled_short_messages_is_at_least_98_percent(
    knowledge: Knowledge,
) -> None:
    lang = detector(knowledge)
    items = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    assert len(items) >= 400 and {i["lang"] for i in items} == {"id", "en"}
    wrong = [(i["q"], i["lang"]) for i in items if lang(i["q"]) != i["lang"]]
    accuracy = 1 - len(wrong) / len(items)
    print(f"\nlanguage detection: {accuracy:.1%} of {len(items)} short messages")
    assert accuracy >= 0.98, wrong
