"""The Reply model: built once from a Decision, rendered by every adapter."""

from __future__ import annotations

from bot.answers import Format, Renderer
from bot.knowledge import Knowledge
from bot.locale import Locale
from bot.matcher import Decision, DecisionKind, Engine
from bot.reply import Topics, build_reply, entry_reply, related
from bot.telegram import keyboards
from tests.support.harness import OUT_OF_SCOPE, UHC_ID, UHC_QUESTION, VAGUE, pick


def _decide(engine: Engine, questions: tuple[str, ...], kind: DecisionKind) -> Decision:
    return engine.decide(pick(engine, questions, kind)[0])


def test_an_answer_holds_its_entry_sources_and_buttons(
    engine: Engine, knowledge: Knowledge, locale: Locale
) -> None:
    decision = engine.decide(UHC_QUESTION)
    reply = build_reply(decision, knowledge, locale)
    entry = knowledge.entry(UHC_ID)
    assert entry is not None
    assert reply.kind is DecisionKind.ANSWER and reply.entry == entry
    assert reply.title == entry.title and reply.head is None
    assert reply.sources == tuple(knowledge.sources_of(entry))
    assert reply.feedback and reply.share and reply.topics is Topics.NONE
    assert reply.related == tuple(related(entry, knowledge))
    assert reply.cards == (entry, *reply.related) and reply.offered == ()
    assert reply == entry_reply(entry, knowledge, question=UHC_QUESTION, score=decision.score)


def test_choices_are_options_listed_in_text_and_offered_as_buttons(
    engine: Engine, knowledge: Knowledge, locale: Locale, renderer: Renderer
) -> None:
    decision = _decide(engine, VAGUE, DecisionKind.CHOICES)
    reply = build_reply(decision, knowledge, locale)
    options = tuple(m.entry for m in decision.matches)
    assert reply.head == "choices.intro" and reply.options == options
    assert reply.offered == options == reply.cards and reply.entry is None
    listed = renderer.reply(reply, knowledge)
    assert listed == renderer.decision(decision, knowledge)
    assert all(e.title in listed for e in options)
    assert renderer.reply(reply, knowledge, Format.HTML, True) == locale.t("choices.intro")
    markup = keyboards.reply_keyboard(reply, knowledge, locale, "k3y")
    assert markup is not None
    assert [row[0].callback_data for row in markup.inline_keyboard] == [
        f"a:{e.id}:k3y" for e in options
    ]


def test_a_fallback_says_whether_staff_were_told_and_offers_topics(
    engine: Engine, knowledge: Knowledge, locale: Locale, renderer: Renderer
) -> None:
    decision = _decide(engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)
    offline = build_reply(decision, knowledge, locale)
    logged = build_reply(decision, knowledge, locale, logged=True)
    assert (offline.head, logged.head) == ("fallback.offline", "fallback.logged")
    assert logged.topics is Topics.BUTTON and logged.cards == ()
    assert logged.suggestions == tuple(m.entry for m in decision.matches)
    text = renderer.reply(logged, knowledge, Format.HTML, True)
    assert text.startswith(locale.t("fallback.logged"))
    markup = keyboards.reply_keyboard(logged, knowledge, locale, "k3y")
    assert markup is not None and markup.inline_keyboard[-1][0].callback_data == "tl"


def test_small_talk_gets_the_topic_menu_only_when_it_invites_a_question(
    engine: Engine, knowledge: Knowledge, locale: Locale
) -> None:
    hello = build_reply(engine.decide("halo"), knowledge, locale)
    thanks = build_reply(engine.decide("terima kasih"), knowledge, locale)
    assert hello.kind is thanks.kind is DecisionKind.SMALLTALK
    assert (hello.head, thanks.head) == ("smalltalk.greeting", "smalltalk.thanks")
    assert hello.topics is Topics.MENU and thanks.topics is Topics.NONE
    assert keyboards.reply_keyboard(thanks, knowledge, locale, "k3y") is None
    menu = keyboards.reply_keyboard(hello, knowledge, locale, "k3y")
    assert menu == keyboards.topics_keyboard(knowledge, locale)
