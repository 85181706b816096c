"""The answer engine: question in, :class:`Decision` out. No Telegram, no I/O.

How a question is scored against an entry (all precomputed at load, nothing rebuilt
per question):

* every known word weighs its inverse document frequency over the entries, so
  "bendali" counts far more than "balikpapan" or "berapa";
* a word the knowledge lacks weighs by its rarity in Indonesian (wordfreq): fully for
  names and terms ("samarinda", "prevalensi", a Titlecase "Monastisisme"), little for
  everyday words ("gampang"), half for strings no word list has seen (slang, typos).
  Unexplained, it lowers coverage — that is what keeps the bot from answering what it
  does not know;
* **coverage** — how much of the question's weight the entry's vocabulary explains
  (title, questions, keywords and figure values fully; answer text and labels half);
* **phrasing** — the best weighted token F1 against one of the entry's questions,
  blended with rapidfuzz's ``token_sort_ratio`` so word order and leftover typos count.

The decision then answers only when the best entry is clearly ahead and explains most
of the question, and never when the question asks for a detail the entry does not
hold (``details``/``places`` in slang.yaml, a number it does not mention, or "berapa"
without a figure on that subject) or names something another entry is about (a
kelurahan, a facility): that is "belum tahu", logged for staff.

Candidates come from an inverted index over the question's rarest words, so the cost
barely grows with the size of the knowledge. Constants below were chosen by sweeps on
the evaluation sets (tune on half, check on the other half).
"""

from __future__ import annotations

import heapq
import math
import re
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from itertools import islice, pairwise
from typing import TypeVar

from rapidfuzz import fuzz

from bot.gcpause import gc_paused
from bot.knowledge import Entry, Knowledge
from bot.text import (
    MAX_KNOWLEDGE_TOKENS,
    Normalized,
    Normalizer,
    Readings,
    affix_roots,
    fold_words,
    format_number,
    is_number,
)

T = TypeVar("T")
MAX_QUESTION_CHARS = 1000  # longer messages are matched on a prefix cut at a word
WEAK_CREDIT = 0.5  # a word found only in the answer text or a figure label
MAX_CANDIDATES = 20  # entries scored in full per question
HEADLINE_BONUS = 0.5  # candidate weight added where the word is in the title or keywords
CANDIDATE_POOL = 200  # entries found before longer posting lists only add weight
COMMON_SHARE = 0.2  # posting lists longer than this share of entries only add weight
UNKNOWN_FACTOR = 1.4  # an unknown content word weighs like the rarest known word, times this
GENERAL_ZIPF = 5.5  # unknown words this frequent in Indonesian are general, not content
RARE_ZIPF_START = 3.0  # unknown words rarer than this weigh fully ...
RARE_ZIPF_END = 6.5  # ... those this common weigh the floor share
UNKNOWN_FLOOR = 0.1  # the least share an unknown everyday word keeps
UNSEEN_SHARE = 0.5  # words wordfreq never saw: colloquialisms and typos more than names
REAL_WORD_ZIPF = 3.5  # at least this frequent in Indonesian: a real word, not a typo
FUNCTION_ZIPF = 6.0  # words at least this frequent are function words ("yang", "kota")
SMALLTALK_MAX_WORDS = 8
SMALLTALK_PADDING = 1.8  # most general-word weight a greeting may carry ("halo, mau tanya")
MEASURE_WORDS = frozenset(
    {"nilai", "angka", "skor", "poin", "persen", "persentase", "indeks", "capaian", "cakupan"}
)
REPAIR_CREDIT = 0.7  # a word reached by stem or spelling guess is uncertain evidence
YEAR_WEIGHT = 1.0  # a matching year says when, not what
GENERIC_WEIGHT = 0.05  # words of slang.yaml's `generic`: present, but no evidence
_YEAR = re.compile(r"(?:19|20)\d\d")
# A capitalised word inside a sentence (not after . ! ? or :), as names are written.
_LOWER_WORD = re.compile(r"(?<![\w-])[a-z]+(?![\w-])")
_NAME = re.compile(r"(?<=[^\s.!?:] )[A-Z][a-z]+(?![A-Za-z])")
WHEN_WORDS = frozenset({"tanggal", "hari", "bulan", "tahun", "jam", "pukul"})
COVERAGE_SHARE = 0.4  # final score = this * coverage + the rest * phrasing
F1_SHARE = 0.8  # phrasing = this * weighted token F1 + the rest * token_sort_ratio


class Reason(StrEnum):
    """Why the engine decided as it did."""

    EMPTY = "empty"  # nothing left after normalising (emoji, punctuation)
    SMALLTALK = "smalltalk"
    NO_CANDIDATE = "no_candidate"  # no entry shares a word with the question
    CONFIDENT = "confident"  # above the answer threshold, clearly ahead, covered
    OTHER_PLACE = "other_place"  # names another city or region
    MISSING_DETAIL = "missing_detail"  # asks a detail or number the entry does not hold
    OTHER_NAME = "other_name"  # names something another entry is about
    UNCOVERED = "uncovered"  # words the entry does not explain carry the question
    UNSURE = "unsure"  # close to the threshold or to the runner-up: options offered
    BELOW_THRESHOLD = "below_threshold"


class DecisionKind(StrEnum):
    ANSWER = "answer"
    CHOICES = "choices"
    FALLBACK = "fallback"
    SMALLTALK = "smalltalk"


@dataclass(frozen=True)
class Thresholds:
    answer: float = 50.0  # top score needed to answer outright
    margin: float = 6.0  # ... and its lead over the runner-up
    choice: float = 42.0  # lowest score offered as "Maksud Anda?"
    choice_spread: float = 18.0  # options must be this close to the top one
    max_choices: int = 3
    suggest: float = 30.0  # fallback suggestions ("mungkin ini yang dicari") ...
    suggest_coverage: float = 0.5  # ... from entries explaining this much of the question
    coverage_floor: float = 0.55  # never answer if less of the question is explained
    uncovered_weight: float = 99.0  # a word other entries hold, this heavy, must be covered


@dataclass(frozen=True)
class Match:
    entry: Entry
    score: float  # 0-100
    coverage: float  # 0-1, share of the question's weight explained by the entry


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    question: str
    normalized: str
    matches: tuple[Match, ...] = ()  # answer: 1; choices: 2-3; fallback: suggestions
    intent: str | None = None  # smalltalk intent
    latency_ms: float = 0.0
    version: str = ""  # fingerprint of the knowledge that decided
    key_words: str = ""  # the question's content words: what unanswered questions group by
    reason: str = ""  # the rule that decided (see Reason), for `explain` and the logs
    because: tuple[str, ...] = ()  # the question's words that rule turned on

    @property
    def entry(self) -> Entry | None:
        return self.matches[0].entry if self.kind is DecisionKind.ANSWER else None

    @property
    def score(self) -> float:
        return self.matches[0].score if self.matches else 0.0


@dataclass(slots=True)
class _EntryIndex:
    entry: Entry
    # Each word of its title, questions and keywords -> the aliases (questions etc.)
    # holding it; its keys are the entry's strong words.
    alias_words: dict[str, tuple[int, ...]]
    alias_texts: tuple[str, ...]
    alias_weights: array[float]  # each alias's summed word weight
    weak: frozenset[str]  # words only in its answer, figure labels and topic titles
    figure_words: frozenset[str]  # words of its figures' labels and units
    has_figures: bool  # so it can answer "berapa"
    has_value: bool  # one of them is an exact number


# An entry with the tokens of its strong texts (title, questions, keywords, figure
# values) and of its weak ones (answer, figure labels, topic titles).
_Doc = tuple[Entry, list[tuple[str, ...]], list[tuple[str, ...]]]


class Index:
    """Everything precomputed from one :class:`Knowledge`; immutable once built."""

    def __init__(self, knowledge: Knowledge, readings: Readings | None = None) -> None:
        """``readings``: questions the check already read (see :func:`check_knowledge`);
        it is a hand-over, emptied once used."""
        self.knowledge = knowledge
        base = knowledge.normalizer()
        smalltalk_words = {
            t
            for patterns in knowledge.smalltalk.values()
            for p in patterns
            for t in base.normalize(p).tokens
        }
        self._places = frozenset(t for d in knowledge.places for t in base.normalize(d).tokens)
        self._details = self._places | {
            t for d in knowledge.details for t in base.normalize(d).tokens
        }
        self._quantities = frozenset(
            t for q in knowledge.quantities for t in base.normalize(q).tokens
        )
        self._generic = frozenset(
            "_".join(base.normalize(g).tokens) for g in knowledge.generic
        ) | frozenset(t for g in knowledge.generic for t in base.normalize(g).tokens)
        docs, tokens_of = self._read(base, readings or Readings(), smalltalk_words)
        entry_frequency: Counter[str] = Counter()
        for _, strong, weak in docs:
            entry_frequency.update({t for tokens in strong + weak for t in tokens})
        n = max(len(docs), 1)
        self._weight = {t: math.log(1 + n / df) for t, df in entry_frequency.items()}
        self._unknown_weight = UNKNOWN_FACTOR * math.log(1 + n)
        self._common_df = max(3, int(COMMON_SHARE * n))

        # Greeting words mixed into a question ("pagi min, ...") carry no meaning.
        self._ignored = frozenset(smalltalk_words - set(entry_frequency))
        self._smalltalk = {
            base.normalize(p).text: intent
            for intent, patterns in knowledge.smalltalk.items()
            for p in patterns
        }
        # Patterns name their intent wherever they appear in a short message, longest
        # first so "terima kasih banyak" is not read as two things.
        self._smalltalk_patterns: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for text, intent in sorted(self._smalltalk.items(), key=lambda p: -len(p[0].split())):
            if text:
                words = tuple(text.split())
                self._smalltalk_patterns.setdefault(words[0], []).append((words, intent))

        self._index_entries(docs, tokens_of)
        # Words the knowledge is about: those its entries' own texts use (titles,
        # keywords, answers, figures), not those only residents' example questions use
        # ("informasi", "maksudnya").
        self._content = frozenset(
            t
            for entry in knowledge.entries
            for text in (
                entry.title,
                *entry.keywords,
                entry.answer,
                *(u.text for u in entry.history),
                *(x for f in entry.figures for x in (f.label, f.unit or "", f.text or "")),
            )
            for t in tokens_of.get(text, ())
        )

    def _read(
        self, base: Normalizer, readings: Readings, smalltalk_words: set[str]
    ) -> tuple[list[_Doc], dict[str, tuple[str, ...]]]:
        """Every entry's strong and weak texts as tokens, read by the normaliser
        questions go through (which is made here, from the knowledge's own words), and
        the tokens of every text read."""
        # Every text of the knowledge, folded once: topic titles, figure labels and
        # keywords repeat across entries, and both passes below read the same words.
        texts = [_texts(entry, self.knowledge) for entry in self.knowledge.entries]
        occurrences = Counter(text for strong, weak in texts for text in (*strong, *weak))
        read = readings.words
        folded = {
            text: read[text] if text in read else fold_words(text, MAX_KNOWLEDGE_TOKENS)
            for text in occurrences
        }
        folded.update(
            (text, fold_words(text, MAX_KNOWLEDGE_TOKENS))
            for entry in self.knowledge.entries
            for f in entry.figures
            for text in (f.label, f.unit or "", f.text or "")
            if text not in folded
        )
        # Pass 1: the knowledge's own words, onto which colloquial forms are mapped.
        own_words: Counter[str] = Counter()
        known = readings.tokens
        base_tokens = base.knowledge_tokens({t: w for t, w in folded.items() if t not in known})
        base_tokens.update((t, known[t]) for t in folded if t in known)
        # Counted in C per text, not in one call over all of them: a single C call
        # holds the GIL throughout, and a reload must not stall the bot's event loop.
        for text, count in occurrences.items():
            tokens = base_tokens[text]
            own_words.update(tokens)
            if count > 1:
                for t in tokens:
                    own_words[t] += count - 1
        self.normalizer = Normalizer(
            self.knowledge.slang,
            self.knowledge.fillers,
            vocabulary=own_words,
            also_known=smalltalk_words | self._details | self._quantities,
            roots=affix_roots,
            is_word=is_indonesian_word,
        )
        # Pass 2: the knowledge through the very normaliser questions go through, so
        # "cakupannya" in an alias and "cakupan" in a figure label meet.
        tokens_of = self.normalizer.knowledge_tokens(folded, like=(base, base_tokens))
        docs = [
            (entry, [tokens_of[t] for t in strong], [tokens_of[t] for t in weak])
            for entry, (strong, weak) in zip(self.knowledge.entries, texts, strict=True)
        ]
        # The texts as read are not needed any more: let them go (with this method's
        # locals) before the index itself is built, so the peak memory is the
        # index's, not both at once.
        readings.words.clear()
        readings.tokens.clear()
        return docs, tokens_of

    def _index_entries(self, docs: list[_Doc], tokens_of: dict[str, tuple[str, ...]]) -> None:
        """Per entry: its words and aliases; across entries: the posting lists."""
        self._entries: list[_EntryIndex] = []
        self._by_id: dict[str, _EntryIndex] = {}
        self._postings: dict[str, list[int]] = {}
        self._headline: dict[str, list[int]] = {}  # word -> entries naming it in title/keywords
        # Identical small tuples recur across thousands of entries (alias positions):
        # one copy of each keeps memory low.
        shared: dict[tuple[int, ...], tuple[int, ...]] = {}
        word_weight = {t: self.weight(t) for t in self._weight}  # every indexed word
        figure_sets: dict[tuple[str, ...], frozenset[str]] = {}  # figure texts -> words
        for i, (entry, strong, weak) in enumerate(docs):
            alias_words: dict[str, list[int]] = {}
            alias_texts: list[str] = []
            alias_weights = array("d")
            for tokens in strong:
                unique = frozenset(tokens)
                if unique:
                    for token in unique:
                        alias_words.setdefault(token, []).append(len(alias_texts))
                    alias_texts.append(" ".join(tokens))
                    # fsum: a set's order follows the hash seed, and a float sum in
                    # another order can differ in the last bit and flip a tie.
                    alias_weights.append(math.fsum(map(word_weight.__getitem__, unique)))
            weak_words = frozenset(t for tokens in weak for t in tokens if t not in alias_words)
            figure_texts = tuple(
                text for f in entry.figures for text in (f.label, f.unit or "", f.text or "")
            )
            figure_words = figure_sets.get(figure_texts)
            if figure_words is None:  # entries of one kind share their figure labels
                figure_words = frozenset(
                    t for text in figure_texts for t in tokens_of[text] if not is_function_word(t)
                )
                figure_sets[figure_texts] = figure_words
            item = _EntryIndex(
                entry,
                {t: _shared(shared, tuple(found)) for t, found in alias_words.items()},
                tuple(alias_texts),
                alias_weights,
                weak_words,
                figure_words,
                bool(entry.figures),
                any(f.value is not None for f in entry.figures),
            )
            self._entries.append(item)
            self._by_id[entry.id] = item
            for word in (*alias_words, *weak_words):
                self._postings.setdefault(word, []).append(i)
            for word in {t for text in (entry.title, *entry.keywords) for t in tokens_of[text]}:
                self._headline.setdefault(word, []).append(i)
        # Names: words the answers write as names (capitalised inside a sentence: "...
        # di Kelurahan Telaga Sari") that also name an entry in its title, and that few
        # entries share ("Balikpapan" tells no entry apart). A question naming one the
        # best entry lacks is about something else, however much of the rest it shares.
        capitalised = Counter(
            w.lower() for entry, _, _ in docs for w in _NAME.findall(entry.answer)
        )
        lower = Counter(
            w for entry, _, _ in docs for w in _LOWER_WORD.findall(entry.answer) if w in capitalised
        )
        # A name is written capitalised at least as often as not: "Layanan" opening a
        # clause is the everyday word "layanan", which the answers mostly write small.
        written = {w for w, n in capitalised.items() if n >= lower[w]}
        read = {t for w in written for t in self.normalizer.normalize_knowledge(w).tokens}
        self._names = frozenset(
            t
            for entry, _, _ in docs
            for t in tokens_of[entry.title]
            if t in read
            and len(self._postings[t]) <= self._common_df
            and not is_function_word(t)
            and not _is_plain_word(t)
        )
        # Sets only for lists long enough that intersecting beats walking them, and not
        # for common words, which never reach that step (see _candidates).
        self._posting_sets = {
            t: frozenset(p)
            for t, p in self._postings.items()
            if CANDIDATE_POOL < len(p) <= self._common_df
        }

    def weight(self, token: str) -> float:
        if token in self._ignored:
            return 0.0
        if token in self._generic:  # "pemkot", "siapa": they tell no entry apart
            return GENERIC_WEIGHT
        known = self._weight.get(token)
        if known is not None:
            return known
        if token in self._details or is_number(token):
            return self._unknown_weight
        return self._unknown_weight * unknown_share(token)

    @property
    def places(self) -> frozenset[str]:
        return self._places

    def unexplained_details(self, normalized: Normalized, entry_id: str) -> list[str]:
        """What the question asks that the entry cannot answer: detail words (or
        numbers) it never mentions ("alamat puskesmas ..."), or "berapa ..." when it
        has no figure about any of the question's words ("berapa jumlah posyandu")."""
        item = self._by_id[entry_id]
        tokens = normalized.tokens
        missing = [
            t
            for t in tokens
            if (t in self._details or is_number(t))
            and t not in item.alias_words
            and t not in item.weak
        ]
        asked = [t for t in tokens if t in self._quantities]
        if any(  # "tanggal berapa", "tahun brp" ask when, not how many
            a in WHEN_WORDS and b in self._quantities for a, b in pairwise(tokens)
        ):
            asked = []
        if asked and not missing:
            content = {t for t in tokens if t not in self._quantities and not is_function_word(t)}
            # "nilainya brp" asks for the entry's own figure, whatever its label says.
            measured = item.has_value and bool(MEASURE_WORDS.intersection(tokens))
            if not item.has_figures or (
                item.figure_words and not content & item.figure_words and not measured
            ):
                missing = asked
        return missing

    def uncovered_words(self, normalized: Normalized, entry_id: str, floor: float) -> list[str]:
        """Words of the question that other entries hold but this one does not, each
        weighing at least ``floor``: what the question is about, beyond this entry."""
        item = self._by_id[entry_id]
        repaired = {known for known, _ in normalized.repairs}
        return [
            t
            for t in normalized.tokens
            if t in self._content
            and t not in item.alias_words
            and t not in item.weak
            and t not in repaired
            and t not in self._quantities
            and not is_number(t)
            and not is_function_word(t)
            and self.weight(t) >= floor
        ]

    def about_city(self, key_words: str) -> bool:
        """Whether an unanswered question (its key words, as logged) touches anything the
        knowledge is about: a city gap for staff, unlike "resep rendang padang" or
        "siapa penemu lampu", which are off-topic and kept apart."""
        return any(
            t in self._weight
            and t not in self._generic
            and t not in self._ignored
            and t not in self._quantities
            and t not in self._details
            and not is_function_word(t)
            for t in key_words.split()
        )

    def unexplained_names(self, normalized: Normalized, entry_id: str) -> list[str]:
        """Names in the question that the entry never mentions but other entries are
        about ("posyandu Telaga Sari" when the entry is the one in Gunung Sari). A word
        reached by a spelling guess is not trusted that far."""
        item = self._by_id[entry_id]
        repaired = {known for known, _ in normalized.repairs}
        return [
            t
            for t in normalized.tokens
            if t in self._names
            and t not in repaired
            and t not in item.alias_words
            and t not in item.weak
        ]

    def key_words(self, normalized: Normalized) -> str:
        """The words that say what a question is about, without function words and
        words most entries share ("di", "balikpapan"): "jadwal vaksin rabies gratis di
        bpp" and "... gratis" are the same question to staff."""
        words = [
            t
            for t in normalized.tokens
            if not is_function_word(t) and len(self._postings.get(t, ())) <= self._common_df
        ]
        return " ".join(words) or normalized.text

    def smalltalk_intent(self, normalized: Normalized) -> str | None:
        """A greeting, thanks, ... : a known pattern, or smalltalk patterns padded only
        with general words ("makasih banyak ya", "cara pakai bot ini gimana") — never
        anything the knowledge is about."""
        tokens = normalized.tokens
        intent = self._smalltalk.get(normalized.text)
        if intent or not tokens or len(tokens) > SMALLTALK_MAX_WORDS:
            return intent
        covered = [False] * len(tokens)
        found: list[tuple[int, str]] = []  # (position, intent)
        for start, token in enumerate(tokens):
            for pattern, intent in self._smalltalk_patterns.get(token, ()):
                end = start + len(pattern)
                if tokens[start:end] == pattern and not any(covered[start:end]):
                    covered[start:end] = [True] * len(pattern)
                    found.append((start, intent))
        if not found:
            return None
        rest = [t for t, hit in zip(tokens, covered, strict=True) if not hit]
        padding = sum(self.weight(t) for t in rest)
        if len(rest) <= 3 and all(map(is_general_word, rest)) and padding <= SMALLTALK_PADDING:
            return max(found)[1]  # the last thing said: "oke makasih" is thanks
        return None

    def query_weights(self, normalized: Normalized) -> dict[str, float]:
        """Each question word's weight, once per question. Two kinds of words are worth
        less here than in the knowledge: a year ("2026" says when, not what), and a word
        reached only by repair, which is no stronger evidence than what was typed
        ("makan" repaired to "makanan" weighs like "makan")."""
        weights = {t: self.weight(t) for t in normalized.tokens}
        for token in normalized.named:
            if token not in self._weight and token not in self._ignored:
                weights[token] = self._unknown_weight  # a name we don't know: full weight
        for token, typed in normalized.repairs:
            if token in weights:
                weights[token] = REPAIR_CREDIT * min(weights[token], self.weight(typed))
        for token in weights:
            if _YEAR.fullmatch(token) and token in self._weight:
                weights[token] = min(weights[token], YEAR_WEIGHT)
        return weights

    def score(self, normalized: Normalized) -> list[Match]:
        weights = self.query_weights(normalized)
        total = sum(weights.values())
        if total <= 0:
            return []
        results = [
            self._score_entry(self._entries[i], weights, total, normalized.text)
            for i in self._candidates(weights)
        ]
        results.sort(key=lambda m: (-m.score, m.entry.id))
        return results

    def _candidates(self, weights: dict[str, float]) -> list[int]:
        """Entries sharing a word with the question, rarest words first. Once a pool of
        entries is found, longer posting lists only add weight to those: the cost stays
        bounded however many entries share a common word."""
        # Generic words ("nama", "pemkot") find no entry: a rare one would fill the pool.
        known = sorted(
            (t for t in weights if t in self._postings and weights[t] > GENERIC_WEIGHT),
            key=lambda t: len(self._postings[t]),
        )
        if known and len(self._postings[known[0]]) > self._common_df:
            # Only common words ("wali kota", "cara"): every entry holding the rarest one
            # weighs the same, so those naming it in their title or keywords come first
            # (the mayor's entry for "siapa wali kota"), then the first of the others.
            rarest = known[0]
            first = self._headline.get(rarest, [])[:MAX_CANDIDATES]
            seen = set(first)
            rest = (i for i in self._postings[rarest] if i not in seen)
            return first + list(islice(rest, MAX_CANDIDATES - len(first)))
        hits: dict[int, float] = {}
        for token in known:
            postings, weight = self._postings[token], weights[token]
            if len(postings) > self._common_df:
                break  # common words only add weight to entries found already
            if len(hits) >= CANDIDATE_POOL:
                long_postings = self._posting_sets.get(token)
                for i in hits.keys() & long_postings if long_postings else postings:
                    if i in hits:
                        hits[i] += weight
                continue
            for i in postings:
                hits[i] = hits.get(i, 0.0) + weight
        # Entries naming a word in their title or keywords are about it; those that
        # only mention it in passing come after them.
        for token in known:
            if len(self._postings[token]) > self._common_df:
                break
            bonus = HEADLINE_BONUS * weights[token]
            for i in self._headline.get(token, ()):
                if i in hits:
                    hits[i] += bonus
        return top_weighted(hits, MAX_CANDIDATES)

    def _score_entry(
        self, item: _EntryIndex, weights: dict[str, float], total: float, text: str
    ) -> Match:
        explained = 0.0
        for token, weight in weights.items():
            if token in item.alias_words:
                explained += weight
            elif token in item.weak:
                explained += WEAK_CREDIT * weight
        coverage = explained / total

        # Shared weight per alias, visiting only aliases that contain a question word.
        shared_by_alias: dict[int, float] = {}
        for token, weight in weights.items():
            for a in item.alias_words.get(token, ()):
                shared_by_alias[a] = shared_by_alias.get(a, 0.0) + weight
        best_f1, best_alias = 0.0, ""
        for a, shared in sorted(shared_by_alias.items()):  # alias order breaks ties
            if shared <= 0:
                continue
            precision, recall = shared / item.alias_weights[a], shared / total
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1, best_alias = f1, item.alias_texts[a]
        phrasing = (
            F1_SHARE * best_f1 + (1 - F1_SHARE) * fuzz.token_sort_ratio(text, best_alias) / 100
        )
        score = 100 * (COVERAGE_SHARE * coverage + (1 - COVERAGE_SHARE) * phrasing)
        return Match(item.entry, round(score, 2), coverage)


class Engine:
    """Holds the current index; a reload swaps it in one assignment, so a question is
    always answered entirely by the old knowledge or entirely by the new."""

    def __init__(self, knowledge: Knowledge | Index, thresholds: Thresholds | None = None) -> None:
        """From knowledge (indexed here) or from an index already built or read back
        from a snapshot (:mod:`bot.snapshot`)."""
        self.thresholds = thresholds or Thresholds()
        self._index = _index_of(knowledge)

    @property
    def knowledge(self) -> Knowledge:
        return self._index.knowledge

    @property
    def index(self) -> Index:
        return self._index

    def swap(self, knowledge: Knowledge | Index) -> None:
        index = _index_of(knowledge)  # built fully before anyone can see it
        self._index = index  # the old index has no reference cycles: freed right here

    def normalize(self, question: str) -> Normalized:
        return self._index.normalizer.normalize(_prefix(question))

    def decide(self, question: str) -> Decision:
        started = time.perf_counter()
        index = self._index  # one snapshot for the whole question
        normalized = index.normalizer.normalize(_prefix(question))
        decision = self._decide(index, question, normalized)
        latency = (time.perf_counter() - started) * 1000
        return Decision(
            decision.kind,
            question,
            normalized.text,
            decision.matches,
            decision.intent,
            round(latency, 3),
            index.knowledge.fingerprint,
            index.key_words(normalized),
            decision.reason,
            decision.because,
        )

    def _decide(self, index: Index, question: str, normalized: Normalized) -> Decision:
        text = normalized.text
        if not normalized:
            return Decision(
                DecisionKind.SMALLTALK, question, "", intent="empty", reason=Reason.EMPTY
            )
        intent = index.smalltalk_intent(normalized)
        if intent:
            return Decision(
                DecisionKind.SMALLTALK, question, text, intent=intent, reason=Reason.SMALLTALK
            )
        matches = index.score(normalized)
        th = self.thresholds
        if not matches:
            return Decision(DecisionKind.FALLBACK, question, text, reason=Reason.NO_CANDIDATE)
        top = matches[0]
        missing = index.unexplained_details(normalized, top.entry.id)
        if missing:
            if index.places.intersection(missing):
                # Another city's figures are not ours: no Balikpapan entry to point to.
                return Decision(
                    DecisionKind.FALLBACK,
                    question,
                    text,
                    reason=Reason.OTHER_PLACE,
                    because=tuple(missing),
                )
            # It asks for something the best entry does not hold (an address, a 2024
            # figure, another city): say so, log it for staff, and point to that entry
            # if it covers the rest of the question ("jam buka mpp" -> MPP).
            return self._not_held(index, question, normalized, missing, top, Reason.MISSING_DETAIL)
        runner_up = matches[1].score if len(matches) > 1 else 0.0
        confident = top.score >= th.answer and top.score - runner_up >= th.margin
        if confident and top.coverage >= th.coverage_floor:
            uncovered = index.uncovered_words(normalized, top.entry.id, th.uncovered_weight)
            if uncovered:
                # A weighty word the knowledge uses elsewhere and this entry never does
                # ("sekolah baru di kelurahan ..." against the new puskesmas): the
                # question is about something else, or about more than this entry.
                options = tuple(m for m in matches[: th.max_choices] if m.score >= th.choice)
                kind = DecisionKind.CHOICES if len(options) > 1 else DecisionKind.FALLBACK
                return Decision(
                    kind,
                    question,
                    text,
                    options if kind is DecisionKind.CHOICES else (),
                    reason=Reason.UNCOVERED,
                    because=tuple(uncovered),
                )
            names = index.unexplained_names(normalized, top.entry.id)
            if names:
                # It names something else: the posyandu of another kelurahan is not
                # this one, however much of the question they share.
                return self._not_held(index, question, normalized, names, top, Reason.OTHER_NAME)
            return Decision(DecisionKind.ANSWER, question, text, (top,), reason=Reason.CONFIDENT)
        if top.score >= th.choice:
            floor = max(th.choice, top.score - th.choice_spread)
            options = tuple(m for m in matches[: th.max_choices] if m.score >= floor)
            return Decision(DecisionKind.CHOICES, question, text, options, reason=Reason.UNSURE)
        # Suggestions after "belum tahu" only from entries explaining much of the
        # question: "siapa presiden amerika" should not be pointed to the mayor.
        suggestions = tuple(
            m
            for m in matches[: th.max_choices]
            if m.score >= th.suggest and m.coverage >= th.suggest_coverage
        )
        return Decision(
            DecisionKind.FALLBACK, question, text, suggestions, reason=Reason.BELOW_THRESHOLD
        )

    def _not_held(
        self,
        index: Index,
        question: str,
        normalized: Normalized,
        missing: list[str],
        top: Match,
        reason: Reason,
    ) -> Decision:
        """ "Belum tahu" (logged for staff), pointing to ``top`` if it covers the rest of
        the question well."""
        th = self.thresholds
        rest = Normalized(tuple(t for t in normalized.tokens if t not in missing))
        # What the rest of the question is about ("mpp" of "jam buka mpp"), if clear.
        about = index.score(rest)[:1] if rest else []
        pointer = tuple(
            m for m in about if m.score >= th.choice and m.coverage >= th.suggest_coverage
        )
        return Decision(
            DecisionKind.FALLBACK,
            question,
            normalized.text,
            pointer,
            reason=reason,
            because=tuple(missing),
        )


NAME_ZIPF = 5.3  # words this common are not names, even capitalised ("Data", "Jalan")
MONTHS = frozenset(
    [
        "januari",
        "februari",
        "maret",
        "april",
        "mei",
        "juni",
        "juli",
        "agustus",
        "september",
        "oktober",
        "november",
        "desember",
    ]
)


@lru_cache(maxsize=100_000)
def _is_plain_word(token: str) -> bool:
    """A capitalised word that is still no name: a month, or an everyday word."""
    if token in MONTHS:
        return True
    if "_" in token or not token.isalpha():
        return False
    from wordfreq import zipf_frequency

    return zipf_frequency(token, "id") >= NAME_ZIPF


@lru_cache(maxsize=100_000)
def is_general_word(token: str) -> bool:
    """Very common Indonesian words ("sekarang", "semua") say little about the topic."""
    if "_" in token or not token.isalpha():
        return False
    from wordfreq import zipf_frequency

    return zipf_frequency(token, "id") >= GENERAL_ZIPF


@lru_cache(maxsize=100_000)
def unknown_share(token: str) -> float:
    """How much of the full unknown-word weight a word the knowledge lacks carries:
    all of it when it is rare in Indonesian (a name, a term: "samarinda",
    "prevalensi"), little when it is everyday language ("gampang", "sekarang")."""
    if "_" in token or not token.isalpha():
        return 1.0
    from wordfreq import zipf_frequency

    zipf = zipf_frequency(token, "id")
    if zipf == 0:
        return UNSEEN_SHARE
    share = (RARE_ZIPF_END - zipf) / (RARE_ZIPF_END - RARE_ZIPF_START)
    return min(1.0, max(UNKNOWN_FLOOR, share))


@lru_cache(maxsize=100_000)
def is_indonesian_word(token: str) -> bool:
    """Typos are strings nobody writes; a word Indonesian text uses is not one."""
    from wordfreq import zipf_frequency

    return zipf_frequency(token, "id") >= REAL_WORD_ZIPF


@lru_cache(maxsize=100_000)
def is_function_word(token: str) -> bool:
    """The commonest words ("yang", "di", "kota"): never what a question is about."""
    from wordfreq import zipf_frequency

    return token.isalpha() and zipf_frequency(token, "id") >= FUNCTION_ZIPF


def _texts(entry: Entry, knowledge: Knowledge) -> tuple[list[str], list[str]]:
    """An entry's strong texts (title, questions, keywords) and weak ones (answer,
    figure labels, topic titles)."""
    strong = [entry.title, *entry.questions, *entry.keywords]
    # Its figures' values as residents type them ("77,43", "7.140") and their years.
    strong += [format_number(f.value) for f in entry.figures if f.value is not None]
    strong += [str(f.year) for f in entry.figures if f.year]
    weak = [said(entry.answer), *(said(u.text) for u in entry.history)]
    weak += [f.label for f in entry.figures]
    # Topic titles are not the entry's words: "Ekspos Akhir Tahun, ..." titles a whole
    # topic, and as words of every entry in it they would make those words common.
    return strong, weak


# "Pemenang dan hadiahnya tidak disebut": what an answer says it does not hold.
_NOT_STATED = re.compile(
    r"[^.;:]*\b(?:tidak|belum)\s+(?:di)?(?:sebut|sebutkan|menyebut|cantumkan|dicantumkan|"
    r"rinci|merinci|dirinci|diketahui|muat|dimuat|tersedia|dijelaskan|menjelaskan)\w*[^.;]*[.;]?",
    re.IGNORECASE,
)


def said(text: str) -> str:
    """A text without its clauses saying what it does not state: those words must not
    make the entry the answer to a question about exactly that ("hadiah krenova")."""
    return _NOT_STATED.sub(" ", text) if "tidak" in text or "belum" in text else text


def build_index(knowledge: Knowledge, readings: Readings | None = None) -> Index:
    """Build an index without the garbage collector, then freeze what exists.

    A large index is hundreds of thousands of objects; every full collection would walk
    them all while holding the GIL, stalling the event loop for a resident's answer. The
    index is immutable and free of reference cycles, so freezing it never leaks: when it
    is replaced, reference counting frees it.
    """
    with gc_paused(freeze=True):
        return Index(knowledge, readings)


def top_weighted(hits: dict[int, float], n: int) -> list[int]:
    """The ``n`` entries with the most weight, ties to the lowest position: what
    ``heapq.nlargest(n, hits, key=lambda i: (hits[i], -i))`` gives, without a Python key
    call per entry (thousands of them when the question's rarest word is frequent)."""
    if len(hits) <= n:
        return sorted(hits, key=lambda i: (-hits[i], i))
    cut = heapq.nlargest(n, hits.values())[-1]  # the n-th largest weight
    above = sorted((i for i, w in hits.items() if w > cut), key=lambda i: (-hits[i], i))
    tied = heapq.nsmallest(n - len(above), (i for i, w in hits.items() if w == cut))
    return above + tied


def _shared(pool: dict, value: T) -> T:
    return pool.setdefault(value, value)


def _index_of(knowledge: Knowledge | Index) -> Index:
    return knowledge if isinstance(knowledge, Index) else build_index(knowledge)


def _prefix(question: str) -> str:
    if len(question) <= MAX_QUESTION_CHARS:
        return question
    cut = question[:MAX_QUESTION_CHARS]
    space = cut.rfind(" ")
    return cut[:space] if space > MAX_QUESTION_CHARS // 2 else cut
