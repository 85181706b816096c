"""Normalisation of informal Indonesian, as residents type it on their phones.

``Normalizer.normalize`` turns "Brp persen warga yg udh punya BPJS??? 🙏" into the
tokens ``berapa persen warga yang sudah punya bpjs``: Unicode folding, emoji and
punctuation removed, reduplication (``anak2``) and repeated letters (``gratisss``)
undone, slang expanded from ``knowledge/slang.yaml``, filler words dropped and, when
a vocabulary is given, typos corrected to the nearest known word.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from rapidfuzz.distance import OSA, Levenshtein

MAX_TOKEN_CHARS = 40  # longer "words" are noise (URLs, keyboard mashing)
MAX_TOKENS = 60
MAX_KNOWLEDGE_TOKENS = 400  # an entry's answer is read whole, not cut like a question

# Symbols that carry meaning in questions; everything else that is not a letter or
# digit becomes a space.
_SYMBOLS = {"%": " persen ", "&": " dan ", "+": " plus ", "@": " "}
_APOSTROPHES = dict.fromkeys(map(ord, "'’`´ʼ‘"), None)
_DROP_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn", "Mn", "Me"}
_NUMBER = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:,\d+)?")
_NUMBER_WITH_SCALE = re.compile(
    # "Rp90 miliar": the currency is glued to the amount, which is still a number
    rf"(?:(?<=Rp)|(?<=rp)|(?<![\w.,]))({_NUMBER.pattern})"
    r"(?:\s+(ribu|juta|miliar|milyar|triliun))?(?![\w])"
)
_STRAY_PUNCTUATION = re.compile(r"(?<!\d)[.,]|[.,](?!\d)")
_NUMBER_TOKEN = re.compile(r"\d+(?:[.,]\d+)*")
_SCALES = {"ribu": 10**3, "juta": 10**6, "miliar": 10**9, "milyar": 10**9, "triliun": 10**12}
_REDUPLICATED = re.compile(r"^([a-z]{2,})2$")
_TITLECASE = re.compile(r"(?<!\w)[A-Z][a-z]+(?:-[A-Za-z]+)*(?!\w)")
_RUN3 = re.compile(r"([a-z])\1{2,}")
_RUN2 = re.compile(r"([a-z])\1+")
_ROMAN = re.compile(r"[ivx]+")
_RUPIAH = re.compile(r"(?<![a-z])rp(?=\d)")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _SYMBOLS:
        return _SYMBOLS[ch]
    if ch.isspace():  # newlines and tabs separate words (they are also "Cc")
        return " "
    if unicodedata.category(ch) in _DROP_CATEGORIES:
        return ""
    return ch if ch.isalnum() or ch in ",." else " "


_ASCII_FOLD = str.maketrans(
    {chr(i): ("" if chr(i) in "'`" else _fold_char(chr(i))) for i in range(128)}
)


def fold(text: str) -> str:
    """Lower-case, accent-free text with only letters, digits and spaces.

    Commas and dots survive only inside numbers (``98,76``, ``7.140``).
    """
    return " ".join(_folded(text).split())


def fold_words(text: str, limit: int = MAX_TOKENS) -> list[str]:
    """The folded words a normaliser reads (a bounded number of them)."""
    return _folded(text).split()[: limit * 2]


def _folded(text: str) -> str:
    if text.isascii():  # the common case, in one C-level pass
        text = text.lower().translate(_ASCII_FOLD)
    else:
        text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES)).casefold()
        text = "".join(_fold_char(ch) for ch in text)
    if "." in text or "," in text:  # most texts have neither: skip the regex
        text = _STRAY_PUNCTUATION.sub(" ", text)
    if "rp" in text:  # "rp90" is "rp 90": the amount is a number of its own
        text = _RUPIAH.sub("rp ", text)
    return text


@dataclass
class Readings:
    """Knowledge texts as the plain normaliser (slang and fillers only) read them while
    the knowledge was checked, handed to the index build so it need not read them again."""

    words: dict[str, list[str]] = field(default_factory=dict)  # text -> fold_words(text)
    tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)  # text -> its tokens


@dataclass(frozen=True)
class Normalized:
    tokens: tuple[str, ...]
    repairs: tuple[tuple[str, str], ...] = ()  # (known word, what was typed) by root/speller
    named: frozenset[str] = frozenset()  # Titlecase mid-sentence: a name or term

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def __bool__(self) -> bool:
        return bool(self.tokens)


class Speller:
    """Corrects a misspelt word to the closest known word (SymSpell-style).

    Every known word is indexed under itself and each of its one-letter deletions, so
    a lookup costs a handful of dict hits however large the vocabulary is. Candidates
    are then verified with the optimal-string-alignment distance (a swap counts 1).
    """

    def __init__(self, vocabulary: Mapping[str, int]) -> None:
        self._frequency = dict(vocabulary)
        self._index: dict[str, list[str]] = {}
        for word in self._frequency:
            if len(word) >= 4 and word.isalpha():
                for variant in {word, *_deletions(word)}:
                    self._index.setdefault(variant, []).append(word)
        self._corrections: dict[str, str | None] = {}

    def correct(self, word: str) -> str | None:
        if word not in self._corrections:
            if len(self._corrections) >= 50_000:
                self._corrections.clear()
            self._corrections[word] = self._correct(word)
        return self._corrections[word]

    def __contains__(self, word: str) -> bool:
        return word in self._frequency

    def _correct(self, word: str) -> str | None:
        # Short words are too easily confused with other real words ("pita"/"pipa").
        if len(word) < 5 or not word.isalpha():
            return None
        limit = 2 if len(word) >= 8 else 1
        variants = {word, *_deletions(word)}
        if limit == 2:
            variants |= {d2 for d1 in _deletions(word) for d2 in _deletions(d1)}
        best: tuple[int, int, str] | None = None
        for variant in variants:
            for candidate in self._index.get(variant, ()):
                if candidate[0] != word[0] and len(word) < 8:
                    continue
                distance = OSA.distance(word, candidate, score_cutoff=limit)
                if distance > limit:
                    continue
                key = (distance, -self._frequency[candidate], candidate)
                if best is None or key < best:
                    best = key
        return best[2] if best else None


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


PARTICLES = ("nya", "lah", "kah", "pun", "ku", "mu")
CANONICAL_PARTICLES = ("nya", "lah", "kah")
# Stripping affixes gives these a root with another meaning ("kependudukan" ->
# "penduduk", "penghargaan" -> "harga"): unknown words are never mapped onto them.
NO_STEM = frozenset(
    {
        "kependudukan",
        "penghargaan",
        "pengerukan",
        "peremajaan",
        "perumahan",
        "pelayanan",
        "penerima",
        "penerimaan",
        "perlindungan",
        "pendapatan",
        "keuangan",
        "pemerintahan",
    }
)
# What `trace` says changed a word (explain shows each in the staff's words).
REPAIR_RULES = (
    "reduplication",
    "stretched",
    "slang",
    "form",
    "root",
    "spelling",
    "abbreviation",
)
MAX_COMPOUND = 4
MAX_CACHED_WORDS = 200_000
MAX_CACHED_QUESTIONS = 20_000


class Normalizer:
    """Question text -> tokens. Without a vocabulary it only folds and expands slang
    (used by ``check``); with one it also repairs words it does not know."""

    def __init__(
        self,
        slang: Mapping[str, str],
        fillers: Iterable[str] = (),
        vocabulary: Mapping[str, int] | None = None,
        roots: Callable[[str], Iterable[str]] | None = None,
        also_known: Iterable[str] = (),
        is_word: Callable[[str], bool] | None = None,
        language: str = "id",
    ) -> None:
        """``vocabulary`` (word -> frequency) is what unknown words may be repaired
        into; ``also_known`` words are left alone but never become repair targets
        ("terdaftar" must not turn into the detail word "daftar")."""
        self._slang = {k: tuple(fold(v).split()) for k, v in slang.items()}
        # A multi-word expansion ("mpp" -> "mal pelayanan publik") names one thing:
        # it becomes one token wherever it appears, so it is weighed once.
        self._compounds = {words for words in self._slang.values() if len(words) > 1}
        self._compound_starts = frozenset(words[0] for words in self._compounds)
        # Words inside a compound are known words ("terima" of "terima kasih"): never
        # "repair" them into something else.
        self._parts = frozenset(w for words in self._compounds for w in words)
        self._fillers = frozenset(fillers)
        self._also_known = frozenset(also_known)
        self._is_word = is_word  # a real word is never "corrected" as a typo
        self.language = language
        morphology = MORPHOLOGY[language]
        self._forms, self._informal, self._abbreviate = morphology
        self._vocabulary = vocabulary or {}
        self._speller = Speller(vocabulary) if vocabulary else None
        self._roots = roots
        self._by_root: dict[str, str] = {}
        if roots and vocabulary:
            # Most frequent known word per root wins: "pelayanan" and "layanan" meet.
            for word in sorted(vocabulary, key=lambda w: (-vocabulary[w], w)):
                if word.isalpha() and word not in NO_STEM:
                    for root in roots(word):
                        self._by_root.setdefault(root, word)
        self._words: dict[str, tuple[tuple[str, ...], tuple[str, str] | None]] = {}
        self._rules: dict[str, str] = {}  # word -> the rule that changed it (for explain)
        self._questions: dict[str, Normalized] = {}

    def normalize(self, text: str) -> Normalized:
        """Cached per question text (residents repeat questions). A plain dict, not
        functools.lru_cache on a bound method, which would make a reference cycle and
        keep a replaced index alive until a full garbage collection."""
        cached = self._questions.get(text)
        if cached is None:
            cached = self._normalize(text)
            if len(self._questions) >= MAX_CACHED_QUESTIONS:
                self._questions.clear()
            self._questions[text] = cached
        return cached

    def _normalize(self, text: str, names: bool = True) -> Normalized:
        limit = MAX_TOKENS if names else MAX_KNOWLEDGE_TOKENS
        kept, repairs = self._tokens(fold_words(text, limit), limit)
        named = frozenset(named_words(text)) & set(kept) if names else frozenset()
        return Normalized(kept, repairs, named)

    def normalize_knowledge(self, text: str) -> Normalized:
        """The knowledge's own texts: same tokens, no name detection, not cached per
        text (tens of thousands of them would only evict residents' questions)."""
        return self._normalize(text, names=False)

    def knowledge_tokens(
        self,
        folded: Mapping[str, list[str]],
        like: tuple[Normalizer, Mapping[str, tuple[str, ...]]] | None = None,
    ) -> dict[str, tuple[str, ...]]:
        """The tokens of many knowledge texts at once, given their :func:`fold_words`:
        what :meth:`normalize_knowledge` gives, without folding a text twice when two
        normalisers read the same knowledge.

        With ``like`` (another normaliser and the tokens it gave for these texts), a
        text none of whose words this one expands differently, and with no one-letter
        token (the only thing filtered differently), keeps those tokens as they are:
        two set tests instead of a pass over its words. Knowledge words are mostly
        read alike, so this halves the cost of indexing a large knowledge base."""
        if like is None:
            return {
                text: self._tokens(words, MAX_KNOWLEDGE_TOKENS)[0] for text, words in folded.items()
            }
        other, known = like
        words = {w for text_words in folded.values() for w in text_words}
        differ = {
            w
            for w in words
            if self._expand_word(w[:MAX_TOKEN_CHARS])[0]
            != other._expand_word(w[:MAX_TOKEN_CHARS])[0]
        }
        one_letter = {t for ts in known.values() for t in ts if len(t) == 1 and not t.isdigit()}
        result: dict[str, tuple[str, ...]] = {}
        for text, text_words in folded.items():
            tokens = known.get(text)
            if (
                tokens is None
                or not differ.isdisjoint(text_words)
                or not one_letter.isdisjoint(tokens)
            ):
                tokens = self._tokens(text_words, MAX_KNOWLEDGE_TOKENS)[0]
            result[text] = tokens
        return result

    def _tokens(
        self, words: list[str], limit: int = MAX_TOKENS
    ) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        tokens: list[str] = []
        repairs: list[tuple[str, str]] = []
        cache = self._words  # hot: every word of every text passes here
        for raw in words:
            if len(raw) > MAX_TOKEN_CHARS:
                raw = raw[:MAX_TOKEN_CHARS]
            expanded, repair = cache.get(raw) or self._expand_word(raw)
            tokens.extend(expanded)
            if repair:
                repairs.append(repair)
        # Single letters are leftovers of markup or typing ("<b>" -> "b"), unless the
        # slang or smalltalk knows them ("p" is a greeting).
        fillers = self._fillers
        tokens = [
            t
            for t in self._merge_compounds(tokens)
            if t not in fillers
            and (len(t) > 1 or t.isdigit() or not self._vocabulary or self._known(t))
        ]
        kept = tuple(tokens[:limit])
        return kept, tuple(r for r in repairs if r[0] in kept)

    def _expand_word(self, token: str) -> tuple[tuple[str, ...], tuple[str, str] | None]:
        """A word's tokens (and its repair, if guessed), computed once per distinct word."""
        cached = self._words.get(token)
        if cached is None:
            repairs: list[tuple[str, str]] = []
            expanded, rule = self._expand(token, repairs)
            cached = (expanded, repairs[0] if repairs else None)
            if len(self._words) >= MAX_CACHED_WORDS:
                self._words.clear()
                self._rules.clear()
            self._words[token] = cached
            if rule:
                self._rules[token] = rule
        return cached

    def trace(self, text: str) -> list[tuple[str, tuple[str, ...], str]]:
        """Each word of ``text`` the normaliser changed: (as typed, its tokens, the rule:
        reduplication, stretched, slang, form, root, spelling, abbreviation)."""
        steps = []
        for raw in fold_words(text):
            expanded, _ = self._expand_word(raw[:MAX_TOKEN_CHARS])
            rule = self._rules.get(raw[:MAX_TOKEN_CHARS], "")
            if rule:
                steps.append((raw, expanded, rule))
        return steps

    def _merge_compounds(self, tokens: list[str]) -> list[str]:
        if self._compound_starts.isdisjoint(tokens):
            return tokens
        merged: list[str] = []
        i = 0
        while i < len(tokens):
            if tokens[i] not in self._compound_starts:
                merged.append(tokens[i])
                i += 1
                continue
            for size in range(min(MAX_COMPOUND, len(tokens) - i), 1, -1):
                if tuple(tokens[i : i + size]) in self._compounds:
                    merged.append("_".join(tokens[i : i + size]))
                    i += size
                    break
            else:
                merged.append(tokens[i])
                i += 1
        return merged

    def _expand(self, token: str, repairs: list[tuple[str, str]]) -> tuple[tuple[str, ...], str]:
        """A word's tokens and the rule that changed it ("" when none did)."""
        typed = token
        match = _REDUPLICATED.match(token)
        rule = ""
        if match:  # "anak2" is "anak-anak": one word is enough for matching
            token, rule = match.group(1), "reduplication"
        squeezed = self._squeeze(token)
        if squeezed != token:
            token, rule = squeezed, "stretched"
        if token in self._slang:
            return self._slang[token], "slang"
        if self._vocabulary:  # one canonical form: "cakupannya" -> "cakupan" when known
            for base in self._forms(token):
                if base in self._vocabulary:
                    return self._slang.get(base, (base,)), "form"
        if self._speller and not self._known(token) and not is_number(token):
            repaired, how = self._repair(token)
            if repaired:
                if how != "form":
                    repairs.append((repaired, token))
                return self._slang.get(repaired, (repaired,)), how
        return (token,), (rule if token != typed else "")

    def _repair(self, token: str) -> tuple[str | None, str]:
        """An unknown word mapped onto a known one, most conservative step first; the
        flag says whether it was a guess (by root, spelling or abbreviation) rather than
        a form. A word Indonesian text really uses is never guessed into another one
        ("meninggal" is not "tinggal", "pesen" is not "persen")."""
        for form in self._informal(token):  # "programnya" -> "program", "ngurus" -> "urus"
            # ... but not onto a slang word: "ngaku" is not "ng" + "aku" (= saya).
            if self._known(form) and form not in self._slang:
                return form, "form"
        if self._is_word and self._is_word(token):
            return None, ""
        if self._roots and token.isalpha():  # "pelayanannya" -> root "layanan" -> known
            for form in (token, *self._informal(token)):
                for root in self._roots(form):
                    known = self._by_root.get(root)
                    if known:
                        return known, "root"
        if not self._speller:
            return None, ""
        # A colloquial word people write ("pesen") is no typo of a knowledge word ...
        attested = self._is_word and is_attested(token, self.language)
        corrected = None if attested else self._speller.correct(token)
        if corrected is not None:
            return corrected, "spelling"
        if self._is_word and self._abbreviate:  # ... or a short spelling of an everyday one
            return self._abbreviate(token), "abbreviation"  # ("trima")
        return None, ""

    def _squeeze(self, token: str) -> str:
        """Undo stretched letters: "gratisss" -> "gratis", "kerennn" -> "keren", "udahh"
        -> "udah", keeping real doubles ("saat", "tunggu")."""
        if not _RUN2.search(token) or self._known(token) or _ROMAN.fullmatch(token):
            return token  # "III" (komisi III) is a numeral, not a stretched "ii"
        single = _RUN2.sub(r"\1", token)
        if not _RUN3.search(token):  # a double letter: only a typo if the word is no word
            if self._real(token) or not (self._known(single) or self._real(single)):
                return token
            return single
        double = _RUN3.sub(r"\1\1", token)
        if self._known(double) or self._real(double):
            return double
        if self._known(single) or self._real(single) or not self._speller:
            return single
        return double

    def _real(self, token: str) -> bool:
        return bool(self._is_word and self._is_word(token))

    def _known(self, token: str) -> bool:
        return (
            token in self._slang
            or token in self._vocabulary
            or token in self._fillers
            or token in self._parts
            or token in self._also_known
        )


_PARTICLE_SUFFIXES = ("lah", "kah", "pun", "tah")
_POSSESSIVE_SUFFIXES = ("nya", "ku", "mu")
_DERIVATION_SUFFIXES = ("kan", "an", "i")
# Prefixes, longest first; nasal ones also drop the root's first consonant
# ("menulis" <- tulis, "memukul" <- pukul, "mengurus" <- kurus or urus).
_PREFIXES = (
    "memper",
    "diper",
    "meng",
    "meny",
    "peng",
    "peny",
    "mem",
    "men",
    "pem",
    "pen",
    "per",
    "ber",
    "ter",
    "me",
    "pe",
    "be",
    "te",
    "di",
    "ke",
    "se",
)
_NASAL = {
    "meny": "s",
    "peny": "s",
    "meng": "k",
    "peng": "k",
    "mem": "p",
    "pem": "p",
    "men": "t",
    "pen": "t",
}
_VOWELS = frozenset("aiueo")
MIN_ROOT = 4  # shorter "roots" (menang/memang -> "ang") link unrelated words


@lru_cache(maxsize=200_000)
def affix_roots(word: str) -> tuple[str, ...]:
    """Every root an Indonesian word could have, longest first: the word itself, then
    with particles, possessives and suffixes off, then prefixes ("pelayanannya" ->
    "pelayanan", "layanan", "layan", ...). Deliberately over-generating: it is only
    used to find a word the knowledge already has that shares one of these roots."""
    stems = {word}
    for group in (_PARTICLE_SUFFIXES, _POSSESSIVE_SUFFIXES, _DERIVATION_SUFFIXES):
        stems |= {s[: -len(x)] for s in stems for x in group if s.endswith(x)}
    roots = set(stems)
    for stem in stems:
        for prefix in _PREFIXES:
            if not stem.startswith(prefix):
                continue
            rest = stem[len(prefix) :]
            roots.add(rest)
            if prefix in _NASAL and rest[:1] in _VOWELS:
                roots.add(_NASAL[prefix] + rest)
    return tuple(sorted((r for r in roots if len(r) >= MIN_ROOT), key=lambda r: (-len(r), r)))


_VOWEL_LETTERS = frozenset("aiueo")
ABBREVIATION_WORDS = 30_000  # the commonest Indonesian words abbreviations are read onto
ABBREVIATION_ZIPF = 3.5  # ... of at least this frequency: real, everyday words
COMMON_ZIPF = 4.5  # a changed vowel is read only onto a very common word


ATTESTED_ZIPF = 2.5  # written this often, a string is a (colloquial) word, not a typo


@lru_cache(maxsize=100_000)
def is_attested(token: str, language: str = "id") -> bool:
    from wordfreq import zipf_frequency

    return token.isalpha() and zipf_frequency(token, language) >= ATTESTED_ZIPF


def _skeleton(word: str) -> str:
    return "".join(ch for ch in word if ch not in _VOWEL_LETTERS)


def _is_subsequence(short: str, long: str) -> bool:
    rest = iter(long)
    return all(ch in rest for ch in short)


@lru_cache(maxsize=1)
def _abbreviation_index() -> dict[str, list[tuple[bool, str]]]:
    """Everyday words by first letter + consonant skeleton, and by that skeleton less
    one consonant (writers drop a nasal: "dtg" for "datang"); the commonest first, each
    with whether it is very common. wordfreq's list is sorted by frequency, so its two
    cut-offs are found by bisection instead of a frequency look-up per word."""
    from wordfreq import top_n_list, zipf_frequency

    words = top_n_list("id", ABBREVIATION_WORDS)

    def rank_below(zipf: float) -> int:
        return bisect_left(words, True, key=lambda w: zipf_frequency(w, "id") < zipf)

    everyday, common = rank_below(ABBREVIATION_ZIPF), rank_below(COMMON_ZIPF)
    index: dict[str, list[tuple[bool, str]]] = {}
    for rank, word in enumerate(words[:everyday]):
        if not word.isalpha() or not word.isascii() or len(word) < 3:
            continue
        rest = _skeleton(word[1:])
        keys = {rest}
        if len(rest) >= 3:
            keys |= {rest[:i] + rest[i + 1 :] for i in range(len(rest))}
        for key in keys:
            index.setdefault(word[0] + key, []).append((rank < common, word))
    return index


@lru_cache(maxsize=50_000)
def expand_abbreviation(token: str) -> str | None:
    """The everyday word a short informal spelling stands for: vowels dropped ("dngn"
    -> "dengan", "bkn" -> "bukan"), or vowels changed ("blom" -> "belum", "bner" ->
    "benar"). Same first letter, the typed letters in order in the word (or the same
    consonants, for a changed vowel), the commonest such word. Only for strings that
    are no word themselves (the caller checks)."""
    if not (2 <= len(token) <= 7) or not token.isalpha() or not token.isascii():
        return None
    candidates = _abbreviation_index().get(token[0] + _skeleton(token[1:]), ())
    skeleton = _skeleton(token)
    vowels = len(token) - len(skeleton)
    for very_common, word in candidates:  # commonest first
        if word == token:
            continue
        if (  # letters dropped: "dngn", "bkn", "dtg" (ending as the word ends)
            vowels <= 1
            and _is_subsequence(token, word)
            and token[-1] in (word[-1], word.rstrip("aiueo")[-1:])
            and len(word) <= 2 * len(token) + 1
        ):
            return word
        if (  # one vowel changed, dropped or added: "baek", "dateng"
            len(token) >= 4
            and very_common
            and _skeleton(word) == skeleton
            and Levenshtein.distance(token, word, score_cutoff=1) <= 1
        ):
            return word
    return None


def named_words(text: str) -> list[str]:
    """Folded words written in Titlecase inside a sentence ("asal kata Monastisisme"):
    formal questions capitalise the name they ask about. Sentence starts and
    ALL-CAPS shouting are not names."""
    names = []
    text = text[:2000]
    for match in _TITLECASE.finditer(text):
        i = match.start() - 1
        while i >= 0 and text[i] in " \t":
            i -= 1
        if i >= 0 and text[i] not in ".!?:\n\r":
            names.extend(fold(match.group(0)).split())
    return names


def _canonical_forms(token: str) -> list[str]:
    """Forms a known word may take instead: particles dropped, "-in" as "-kan"."""
    forms = [token[: -len(p)] for p in CANONICAL_PARTICLES if token.endswith(p)]
    forms += [f[:-2] + "kan" for f in (token, *forms) if f.endswith("in") and len(f) > 5]
    return [f for f in forms if len(f) >= 3]


def _informal_forms(token: str) -> list[str]:
    """Standard forms of a colloquial word: particles dropped ("programnya"), Jakarta
    "-in" for "-kan" ("dikembangin"), and nasal prefixes ("ngurus", "nyari")."""
    forms = [token.removesuffix(p) for p in PARTICLES if token.endswith(p)]
    if token[:1] in "nm" and len(token) > 4:  # "nambah" -> "menambah", "nerima" -> "menerima"
        forms.append("me" + token)
    # "-in" for "-kan", also under a particle: "diadainnya" -> "diadakan"
    forms += [f[:-2] + "kan" for f in (token, *forms) if f.endswith("in") and len(f) > 5]
    if token.startswith("nge") and len(token) > 5:
        forms.append(token[3:])
    if token.startswith("ng") and len(token) > 4 and token[2] in "aiueo":
        forms += [token[2:], "k" + token[2:]]
    if token.startswith("ny") and len(token) > 4:
        forms += ["s" + token[2:], "c" + token[2:]]
    if token[:1] == "n" and token[1:2] in "aiueo" and len(token) > 4:  # "nampung" -> tampung
        forms.append("t" + token[1:])
    return [f for f in forms if len(f) >= 3]


def english_forms(token: str) -> list[str]:
    """Forms a known English word may take instead: the plural or possessive "s" off
    ("buses" -> "bus", "schools" -> "school", "city's" folded to "citys" -> "city")."""
    forms = []
    if token.endswith("ies") and len(token) > 4:
        forms.append(token[:-3] + "y")
    if token.endswith("es") and len(token) > 4:
        forms.append(token[:-2])
    if token.endswith("s") and not token.endswith("ss") and len(token) > 3:
        forms.append(token[:-1])
    return forms


def no_forms(token: str) -> list[str]:
    return []


_EN_SUFFIXES = ("ing", "ed", "es", "s", "er", "ly", "ment", "tion", "al")


@lru_cache(maxsize=200_000)
def english_roots(word: str) -> tuple[str, ...]:
    """Roots an English word could have, longest first ("opening" -> "open",
    "registered" -> "register"): only used to find a knowledge word sharing one."""
    roots = {word}
    for suffix in _EN_SUFFIXES:
        if word.endswith(suffix):
            stem = word[: -len(suffix)]
            roots.add(stem)
            if suffix in ("ing", "ed") and len(stem) > 2 and stem[-1] == stem[-2]:
                roots.add(stem[:-1])  # "planned" -> "plan"
            if suffix in ("ing", "ed", "er"):
                roots.add(stem + "e")  # "closing" -> "close"
    return tuple(sorted((r for r in roots if len(r) >= MIN_ROOT), key=lambda r: (-len(r), r)))


# Per language: the canonical forms of a known word, the standard forms of a colloquial
# one, and the reader of informal abbreviations (None: the language has none here).
Morphology = tuple[
    Callable[[str], list[str]], Callable[[str], list[str]], Callable[[str], str | None] | None
]
MORPHOLOGY: dict[str, Morphology] = {
    "id": (_canonical_forms, _informal_forms, expand_abbreviation),
    "en": (english_forms, no_forms, None),
}


def format_number(value: Decimal) -> str:
    """Indonesian style: 7.140 · 98,76 · 200.000."""
    value = value.normalize()
    sign = "-" if value < 0 else ""
    whole, _, fraction = f"{abs(value):f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return sign + grouped + ("," + fraction if fraction else "")


def is_number(token: str) -> bool:
    return bool(_NUMBER_TOKEN.fullmatch(token))


def parse_numbers(text: str) -> list[tuple[str, Decimal]]:
    """Numbers written the Indonesian way, with their value: "7.140" -> 7140,
    "98,76" -> 98.76, "200 ribu" -> 200000."""
    found: list[tuple[str, Decimal]] = []
    for match in _NUMBER_WITH_SCALE.finditer(text):
        digits, scale = match.group(1), match.group(2)
        try:
            value = Decimal(digits.replace(".", "").replace(",", "."))
        except InvalidOperation:
            continue
        if scale:
            value *= _SCALES[scale]
        found.append((match.group(0), value))
    return found
