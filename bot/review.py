"""How robust is a new or changed entry, before it is reloaded for the whole city?
(``python -m bot review``)

For every entry added or changed since the last commit (or the entries named):

* leave-one-out: each example question, asked of an index built without it, must still
  find the entry — a resident never types the example word for word;
* automatic variants of each example (a vowel dropped from a long word, the words
  swapped, a filler added, a word replaced by a slang key of knowledge/slang.yaml,
  upper- and lower-case), asked of that same index;
* which questions of the eval sets and of the question log change their decision
  between the knowledge at HEAD and the working tree: stolen from another entry, newly
  answered, newly unanswered.

It measures; it does not judge: the verdict (kuat / cukup / lemah) and the advice are
for the staff member, the exit code stays 0.
"""

from __future__ import annotations

import sqlite3
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.evaluation import (
    SHARED_CITY,
    Case,
    Outcome,
    load_cases,
    load_city,
    load_topic_cases,
)
from bot.knowledge import Entry, Knowledge, check_knowledge
from bot.matcher import Decision, DecisionKind, Engine, is_function_word, is_general_word

VOWELS = "aeiou"
MIN_LONG_WORD = 6  # a word this long loses a vowel in the typo variant
LOG_LIMIT = 5000  # the newest distinct logged questions compared
GOOD_QUESTIONS = 8  # fewer example questions than this: advise more
STRONG = (0.8, 0.75)  # leave-one-out and variant rates of a "kuat" entry
FAIR = (0.5, 0.5)  # ... of a "cukup" entry


# --- what changed ---------------------------------------------------------------------


def _git(folder: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def head_knowledge(folder: Path) -> tuple[Knowledge | None, str]:
    """The knowledge folder as at the last commit, and why not when it cannot be read:
    ``"no_git"`` (no git, not a checkout, no commit) or ``"head_broken"``."""
    prefix = _git(folder, "rev-parse", "--show-prefix")
    root = _git(folder, "rev-parse", "--show-toplevel")
    if prefix is None or root is None or _git(folder, "rev-parse", "--verify", "HEAD") is None:
        return None, "no_git"
    top = Path(root.decode().strip())
    where = prefix.decode().strip()
    listed = _git(top, "ls-tree", "--name-only", "HEAD", where or ".")
    if listed is None:
        return None, "no_git"
    names = [n for n in listed.decode().splitlines() if n.endswith(".yaml")]
    with tempfile.TemporaryDirectory(prefix="review-head-") as tmp:
        for name in names:
            data = _git(top, "show", f"HEAD:{name}")
            if data is None:
                return None, "no_git"
            (Path(tmp) / Path(name).name).write_bytes(data)
        if not names:  # the folder is new since the last commit: nothing was there
            return replace(_empty_like(), fingerprint="head-empty"), ""
        knowledge, _ = check_knowledge(Path(tmp))
    if knowledge is None:
        return None, "head_broken"
    return knowledge, ""


def _empty_like() -> Knowledge:
    return Knowledge(
        entries=(),
        sources={},
        topics={},
        slang={},
        fillers=frozenset(),
        details=frozenset(),
        places=frozenset(),
        quantities=frozenset(),
        smalltalk={},
        fingerprint="empty",
    )


def changed_entries(old: Knowledge, new: Knowledge) -> list[tuple[Entry, str]]:
    """The entries of ``new`` that ``old`` lacks ("new") or holds differently ("changed")."""
    out = []
    for entry in new.entries:
        before = old.entry(entry.id)
        if before is None:
            out.append((entry, "new"))
        elif before.model_dump() != entry.model_dump():
            out.append((entry, "changed"))
    return out


# --- the measurements -----------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One question asked, the kind of variant it is, and what the engine decided."""

    question: str
    variant: str  # "" for an example question itself
    decision: Decision
    entry_id: str

    @property
    def found(self) -> bool:
        return self.decision.entry is not None and self.decision.entry.id == self.entry_id

    @property
    def offered(self) -> bool:
        return self.decision.kind is DecisionKind.CHOICES and any(
            m.entry.id == self.entry_id for m in self.decision.matches
        )


@dataclass(frozen=True)
class Change:
    """A question whose decision differs between the knowledge at HEAD and now."""

    question: str
    origin: str  # "eval" or "log"
    before: Decision
    after: Decision
    right_before: bool | None = None  # by the eval set's label, when it has one
    right_after: bool | None = None

    def kind_for(self, entry_id: str) -> str | None:
        """How the change concerns ``entry_id``: stolen, answered, abstained, lost."""
        was = _answered_by(self.before)
        now = _answered_by(self.after)
        if now == entry_id and was is not None and was != entry_id:
            return "stolen"
        if now == entry_id and was is None:
            return "answered"
        if was == entry_id and now is not None and now != entry_id:
            return "lost"
        if was is not None and now is None:
            involved = {m.entry.id for m in (*self.before.matches, *self.after.matches)}
            if entry_id in involved:
                return "abstained"
        offered_now = self.after.kind is DecisionKind.CHOICES and entry_id in _ids(self.after)
        if offered_now and entry_id not in _ids(self.before):
            return "offered"
        return None


def _ids(decision: Decision) -> set[str]:
    return {m.entry.id for m in decision.matches}


def _answered_by(decision: Decision) -> str | None:
    return decision.entry.id if decision.entry is not None else None


@dataclass
class EntryReview:
    entry: Entry
    status: str  # "new", "changed" or "named"
    held_out: list[Probe] = field(default_factory=list)
    variants: list[Probe] = field(default_factory=list)
    changes: dict[str, list[Change]] = field(default_factory=dict)
    keyword_hints: list[str] = field(default_factory=list)

    @property
    def held_out_rate(self) -> float:
        return _rate(self.held_out)

    @property
    def variant_rate(self) -> float:
        return _rate(self.variants)

    @property
    def made_wrong(self) -> list[Change]:
        """Eval questions answered right before and wrongly now, because of this entry."""
        return [
            c
            for kind in ("stolen", "lost", "abstained")
            for c in self.changes.get(kind, [])
            if c.right_before and c.right_after is False
        ]

    @property
    def verdict(self) -> str:
        loo, var = self.held_out_rate, self.variant_rate
        if loo >= STRONG[0] and var >= STRONG[1]:
            verdict = "kuat"
        elif loo >= FAIR[0] and var >= FAIR[1]:
            verdict = "cukup"
        else:
            verdict = "lemah"
        if verdict == "kuat" and self.made_wrong:
            verdict = "cukup"  # found well, but it now answers questions of other entries
        return verdict


def _rate(probes: Sequence[Probe]) -> float:
    """Share answered by the entry (being among the options offered is shown, but is
    not found: the resident has to pick it)."""
    return sum(p.found for p in probes) / len(probes) if probes else 0.0


def variants(question: str, knowledge: Knowledge) -> list[tuple[str, str]]:
    """A few ways a resident might type ``question`` differently: (variant, text)."""
    words = question.split()
    out: list[tuple[str, str]] = []
    long_words = [w for w in words if len(w) >= MIN_LONG_WORD and w.isalpha()]
    if long_words:
        word = max(long_words, key=len)
        inner = [i for i, ch in enumerate(word) if ch.lower() in VOWELS and 0 < i < len(word) - 1]
        if inner:
            i = inner[len(inner) // 2]
            typo = word[:i] + word[i + 1 :]
            out.append(("typo", " ".join(typo if w == word else w for w in words)))
    if len(words) >= 2:
        out.append(("order", " ".join([*words[1:], words[0]])))
    filler = next((f for f in ("min", "dong", "kak") if f in knowledge.fillers), None)
    if filler:
        out.append(("filler", f"{question} {filler}"))
    reverse: dict[str, str] = {}
    for key, value in sorted(knowledge.slang.items()):
        if " " not in value and key != value:
            reverse.setdefault(value, key)
    for n, w in enumerate(words):
        key = reverse.get(w.lower())
        if key:
            out.append(("slang", " ".join([*words[:n], key, *words[n + 1 :]])))
            break
    out.append(("upper", question.upper()))
    out.append(("lower", question.lower()))
    seen = {question}
    unique = []
    for kind, text in out:
        if text not in seen:
            seen.add(text)
            unique.append((kind, text))
    return unique


def _without(knowledge: Knowledge, entry: Entry, question: str) -> Knowledge:
    """``knowledge`` with ``question`` removed from ``entry`` (the rest unchanged)."""
    cut = entry.model_copy(update={"questions": tuple(q for q in entry.questions if q != question)})
    entries = tuple(cut if e.id == entry.id else e for e in knowledge.entries)
    return replace(knowledge, entries=entries, fingerprint=f"{knowledge.fingerprint}-loo")


def probe_entry(engine: Engine, entry: Entry, status: str) -> EntryReview:
    """Leave-one-out and variants of every example question of ``entry``."""
    knowledge = engine.knowledge
    review = EntryReview(entry, status)
    for question in entry.questions:
        held = Engine(_without(knowledge, entry, question), engine.thresholds)
        review.held_out.append(Probe(question, "", held.decide(question), entry.id))
        for kind, text in variants(question, knowledge):
            review.variants.append(Probe(text, kind, held.decide(text), entry.id))
    review.keyword_hints = _keyword_hints(engine, review)
    return review


def _keyword_hints(engine: Engine, review: EntryReview) -> list[str]:
    """Words of the example questions the entry was not found by that nothing else in
    the entry holds: if they mean the same thing, they belong in ``keywords``."""
    entry, knowledge = review.entry, engine.knowledge
    failed = [p.question for p in review.held_out if not p.found]
    hints: list[str] = []
    for question in failed:
        rest = [entry.title, entry.answer, *entry.keywords]
        rest += [q for q in entry.questions if q != question]
        held = {t for text in rest for t in engine.normalize(text).tokens}
        for token in engine.normalize(question).tokens:
            word = token.replace("_", " ")
            if (
                token not in held
                and word not in hints
                and len(token) >= 3
                and not token.isdigit()
                and token not in knowledge.generic
                and token not in knowledge.fillers
                and token not in knowledge.details  # a detail is claimed only from a source
                and token not in knowledge.quantities
                and not all(_common(w) for w in word.split())
            ):
                hints.append(word)
    # The rarest first: they tell this entry apart; common ones would take others' questions.
    index = engine.index
    return sorted(hints, key=lambda w: -sum(index.weight(p) for p in w.split()))


def _common(word: str) -> bool:
    """Everyday Indonesian, or an English function word ("not"): never a keyword."""
    from wordfreq import zipf_frequency

    return is_function_word(word) or is_general_word(word) or zipf_frequency(word, "en") >= 6


def eval_cases(city: Path = SHARED_CITY) -> list[Case]:
    cases = load_cases() + load_topic_cases()
    if city.exists():
        cases += load_city(city)
    return cases


def logged_questions(db_path: Path | None, limit: int = LOG_LIMIT) -> list[str]:
    """The newest distinct questions of the log; none when there is no log (quietly)."""
    if db_path is None or not db_path.is_file():
        return []
    try:
        con = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT text FROM questions GROUP BY text ORDER BY MAX(asked_at) DESC LIMIT ?",
                (limit,),
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []
    return [r[0] for r in rows if r[0]]


def decision_changes(
    before: Engine, after: Engine, cases: Iterable[Case], logged: Iterable[str], render
) -> list[Change]:
    """Every question whose decision (kind and entry) differs between the two engines;
    eval cases carry whether each decision is right by the set's label."""

    def key(d: Decision) -> tuple:
        return d.kind, d.entry.id if d.entry else None

    changes = []
    asked: set[str] = set()
    for case in cases:
        asked.add(case.q)
        old, new = before.decide(case.q), after.decide(case.q)
        if key(old) == key(new):
            continue
        right_old = Outcome(case, old, render(old, before) if case.figures else "").correct
        right_new = Outcome(case, new, render(new, after) if case.figures else "").correct
        changes.append(Change(case.q, "eval", old, new, right_old, right_new))
    for question in logged:
        if question in asked:
            continue
        asked.add(question)
        old, new = before.decide(question), after.decide(question)
        if key(old) != key(new):
            changes.append(Change(question, "log", old, new))
    return changes


def attribute(reviews: list[EntryReview], changes: list[Change]) -> list[Change]:
    """File each change under the reviewed entries it concerns; return the rest."""
    rest = []
    for change in changes:
        placed = False
        for review in reviews:
            kind = change.kind_for(review.entry.id)
            if kind:
                review.changes.setdefault(kind, []).append(change)
                placed = True
        if not placed:
            rest.append(change)
    return rest


# --- the report -------------------------------------------------------------------------

SHOWN = 5  # failures and changes listed per section
HINTS = 8  # keyword candidates shown
VARIANT_KEYS = {
    "typo": "review.variant_typo",
    "order": "review.variant_order",
    "filler": "review.variant_filler",
    "slang": "review.variant_slang",
    "upper": "review.variant_upper",
    "lower": "review.variant_lower",
}
CHANGE_KEYS = {
    "stolen": "review.change_stolen",
    "answered": "review.change_answered",
    "abstained": "review.change_abstained",
    "lost": "review.change_lost",
    "offered": "review.change_offered",
}
STATUS_KEYS = {
    "new": "review.status_new",
    "changed": "review.status_changed",
    "unchanged": "review.status_unchanged",
    "named": "review.status_named",
}
VERDICT_KEYS = {
    "kuat": "review.verdict_kuat",
    "cukup": "review.verdict_cukup",
    "lemah": "review.verdict_lemah",
}


def describe(decision: Decision, locale) -> str:
    """What the engine did with a question, in a few words."""
    if decision.kind is DecisionKind.ANSWER and decision.entry is not None:
        return locale.t("review.got_answer", id=decision.entry.id)
    if decision.kind is DecisionKind.CHOICES:
        ids = ", ".join(m.entry.id for m in decision.matches)
        return locale.t("review.got_choices", ids=ids)
    if decision.kind is DecisionKind.SMALLTALK:
        return locale.t("review.got_smalltalk")
    return locale.t("review.got_fallback")


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "-"


def _offered(lines: list[str], probes: Sequence[Probe], locale) -> None:
    offered = sum(p.offered for p in probes)
    if offered:
        lines.append(locale.t("review.offered", n=offered))


def _more(lines: list[str], left: int, locale) -> None:
    if left > 0:
        lines.append(locale.t("review.more", n=left))


def entry_lines(review: EntryReview, locale, compared: bool) -> list[str]:
    t = locale.t
    entry = review.entry
    status = t(STATUS_KEYS[review.status])
    lines = [t("review.entry", id=entry.id, status=status, title=entry.title)]
    found = sum(p.found for p in review.held_out)
    total = len(review.held_out)
    lines.append(t("review.held_out", found=found, total=total, percent=_percent(found, total)))
    _offered(lines, review.held_out, locale)
    missed = [p for p in review.held_out if not p.found]
    for probe in missed[:SHOWN]:
        lines.append(
            t("review.miss", question=probe.question, got=describe(probe.decision, locale))
        )
    _more(lines, len(missed) - SHOWN, locale)

    found = sum(p.found for p in review.variants)
    total = len(review.variants)
    lines.append(t("review.variants", found=found, total=total, percent=_percent(found, total)))
    _offered(lines, review.variants, locale)
    missed = [p for p in review.variants if not p.found]
    for probe in missed[:SHOWN]:
        lines.append(
            t(
                "review.variant_miss",
                variant=t(VARIANT_KEYS[probe.variant]),
                question=probe.question,
                got=describe(probe.decision, locale),
            )
        )
    _more(lines, len(missed) - SHOWN, locale)

    if not compared:
        lines.append(t("review.changes_skipped"))
    elif not review.changes:
        lines.append(t("review.changes_none"))
    else:
        lines.append(t("review.changes"))
        for kind in CHANGE_KEYS:
            changes = review.changes.get(kind, [])
            if not changes:
                continue
            lines.append(t(CHANGE_KEYS[kind], n=len(changes)))
            for change in changes[:SHOWN]:
                lines.append(_change_line(change, locale))
            _more(lines, len(changes) - SHOWN, locale)

    verdict = review.verdict
    lines.append(t("review.verdict", verdict=verdict.upper(), why=t(VERDICT_KEYS[verdict])))
    advice = advice_lines(review, locale)
    if advice:
        lines.append(t("review.advice"))
        lines.extend(advice)
    return lines


def _change_line(change: Change, locale) -> str:
    t = locale.t
    if change.origin == "log":
        label = t("review.from_log")
    elif change.right_before and change.right_after:
        label = t("review.from_eval_still_right")
    elif change.right_after:
        label = t("review.from_eval_right")
    elif change.right_before:
        label = t("review.from_eval_wrong")
    else:
        label = t("review.from_eval_still_wrong")
    return t(
        "review.change",
        question=change.question,
        before=describe(change.before, locale),
        after=describe(change.after, locale),
        label=label,
    )


def advice_lines(review: EntryReview, locale) -> list[str]:
    """What to add when the entry is not found well, or takes others' questions."""
    t = locale.t
    lines = []
    if review.verdict != "kuat":
        if review.keyword_hints:
            words = ", ".join(review.keyword_hints[:HINTS])
            lines.append(t("review.advice_keywords", words=words))
        elif review.held_out_rate < 1 or review.variant_rate < 1:
            lines.append(t("review.advice_keywords_general"))
        if len(review.entry.questions) < GOOD_QUESTIONS:
            lines.append(
                t("review.advice_questions", n=len(review.entry.questions), good=GOOD_QUESTIONS)
            )
        others = sorted(
            {
                p.decision.entry.id
                for p in (*review.held_out, *review.variants)
                if p.decision.entry is not None and not p.found
            }
        )
        if others:
            lines.append(t("review.advice_overlap", ids=", ".join(others)))
    if review.made_wrong:
        lines.append(t("review.advice_stolen", n=len(review.made_wrong)))
    return lines


def review(
    knowledge: Knowledge, folder: Path, ids: Sequence[str], db_path: Path | None, locale
) -> tuple[int, list[str]]:
    """The whole report for the checked ``knowledge`` of ``folder``: (exit code, lines).
    Exit 2 only when there is nothing to compare against and no id was named, or a
    named id does not exist."""
    from difflib import get_close_matches

    from bot.answers import Format, Renderer

    t = locale.t
    head, why = head_knowledge(folder)
    unknown = [i for i in ids if knowledge.entry(i) is None]
    if unknown:
        lines = []
        for i in unknown:
            close = get_close_matches(i, list(knowledge.by_id), n=3, cutoff=0.5)
            lines.append(t("review.unknown_id", id=i, close=", ".join(close) or "-"))
        return 2, lines
    if ids:
        chosen = []
        for i in dict.fromkeys(ids):
            entry = knowledge.by_id[i]
            if head is None:
                status = "named"
            elif head.entry(i) is None:
                status = "new"
            elif head.entry(i).model_dump() != entry.model_dump():
                status = "changed"
            else:
                status = "unchanged"
            chosen.append((entry, status))
    elif head is None:
        key = "review.head_broken" if why == "head_broken" else "review.no_git"
        return 2, [t(key)]
    else:
        chosen = changed_entries(head, knowledge)
        if not chosen:
            return 0, [t("review.nothing_changed")]

    engine = Engine(knowledge)
    renderer = Renderer(locale)

    def render(decision: Decision, by: Engine) -> str:
        return renderer.decision(decision, by.knowledge, Format.TEXT)

    reviews = [probe_entry(engine, entry, status) for entry, status in chosen]
    lines = []
    if head is not None:
        cases = eval_cases()
        logged = logged_questions(db_path)
        changes = decision_changes(Engine(head), engine, cases, logged, render)
        rest = attribute(reviews, changes)
        lines.append(t("review.header_head", n=len(reviews), cases=len(cases), logged=len(logged)))
    else:
        rest = []
        lines.append(t("review.header_named", n=len(reviews)))
    for r in reviews:
        lines.append("")
        lines.extend(entry_lines(r, locale, compared=head is not None))
    if rest:
        lines.append("")
        lines.append(t("review.other_changes", n=len(rest)))
        for change in rest[:SHOWN]:
            lines.append(_change_line(change, locale))
        _more(lines, len(rest) - SHOWN, locale)
    lines.append("")
    summary = ", ".join(f"{r.entry.id} {r.verdict}" for r in reviews)
    lines.append(t("review.summary", summary=summary))
    lines.append(t("review.next"))
    return 0, lines
