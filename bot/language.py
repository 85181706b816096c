"""Which language a resident wrote in: Indonesian (slang and code-mixing included) or
English, from the message alone, the Telegram ``language_code`` only breaking a tie.

Short chat messages defeat character n-gram detectors ("wifi gratis msh on gk" is
Indonesian with two English words). Each word votes by how much more often English
than Indonesian text uses it (wordfreq's Zipf scales, the same data the matcher uses),
weighted by how common it is, so grammar words ("the", "how", "yang", "berapa") decide
and names and loanwords ("wifi", "bus", "manggar") barely count. Words of the bot's
Indonesian slang list ("brp", "yg", "gk") are Indonesian whatever English makes of them.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Final, Literal

from bot.text import fold_words

Language = Literal["id", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("id", "en")
DEFAULT: Final[Language] = "id"
MAX_LEAD = 3.0  # one word's vote is capped: a single English word never outweighs a sentence
SLANG_VOTE = -2.0  # a word of the Indonesian slang list votes this firmly for Indonesian
MARGIN = 0.5  # below this total lead the message is a tie
NAME_SHARE = 0.25  # what a name's vote keeps
NAME_ZIPF = 4.0  # words English never writes and Indonesian rarely: local names
GRAMMAR_ZIPF = 5.8  # this common in Indonesian: a grammar word, never a name
ENGLISH_ZIPF = 2.5  # an English word at least this common is English, not a local name


@lru_cache(maxsize=100_000)
def word_vote(word: str) -> float:
    """> 0: an English word, < 0: an Indonesian one, weighted by how common it is."""
    from wordfreq import zipf_frequency

    if not word.isalpha():
        return 0.0
    en, id_ = zipf_frequency(word, "en"), zipf_frequency(word, "id")
    lead = max(-MAX_LEAD, min(MAX_LEAD, en - id_))
    vote = lead * max(en, id_) / 7.0
    # A word English never writes is mostly a local name ("balikpapan", "manggar") when
    # Indonesian writes it rarely: it says where, not which language.
    return vote * NAME_SHARE if en == 0 and id_ < NAME_ZIPF else vote


def detect(
    text: str,
    slang: Collection[str] = (),
    hint: str | None = None,
    names: Collection[str] = (),
) -> Language:
    """The language of ``text``; ``hint`` (Telegram's language_code, "en-GB") breaks a tie.
    ``names``: the knowledge's own names and terms ("puskesmas", "kelurahan", "bpjs"),
    which English questions use as they are; they count for little."""
    score = 0.0
    for word in fold_words(text)[:40]:
        vote = word_vote(word) * (NAME_SHARE if word in names else 1.0)
        # The slang list also maps English words ("how", "beach"): only words English
        # does not use count as Indonesian slang.
        score += SLANG_VOTE if word in slang and vote <= 0 else vote
    if score > MARGIN:
        return "en"
    if score < -MARGIN:
        return "id"
    return "en" if (hint or "").lower().startswith("en") else DEFAULT


def knowledge_names(texts: Collection[str]) -> frozenset[str]:
    """The names and terms in the knowledge's titles and keywords that English does not
    use ("kelurahan", "dinas", "bpjs"), except Indonesian grammar words ("di", "dan")."""
    from wordfreq import zipf_frequency

    return frozenset(
        w
        for text in texts
        for w in fold_words(text)
        if w.isalpha()
        and zipf_frequency(w, "id") < GRAMMAR_ZIPF
        and zipf_frequency(w, "en") < ENGLISH_ZIPF  # "flood", "budget" stay English
    )
