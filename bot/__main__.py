"""Command line: ``python -m bot <command>``. Every command is documented in README.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, TextIO

from bot.answers import Format, Renderer
from bot.config import PRIVATE_UMASK, ConfigError, Settings, load_settings, setup_logging
from bot.evaluation import (
    DEFAULT_EVAL,
    SHARED_CITY,
    SHARED_OUT_OF_SCOPE,
    evaluate,
    few,
    load_cases,
    load_city,
    load_shared_out_of_scope,
    load_topic_cases,
    sweep,
)
from bot.explain import Explanation, explain
from bot.knowledge import Entry, Knowledge, Problem, check_knowledge
from bot.locale import Locale
from bot.matcher import Decision, Engine
from bot.reply import build_reply
from bot.reports import groups_csv_bytes, replay_open_groups, stats_chart_png, stats_lines
from bot.snapshot import open_index
from bot.storage import Storage

Handler = Callable[[argparse.Namespace, Settings, Locale], int]

# The variables each kind of command reads: settings are loaded once, in main(), from
# these alone, so a command never fails over a variable it does not use.
KNOWLEDGE_VARS = ("BOT_KNOWLEDGE_DIR",)
ENGINE_VARS = (*KNOWLEDGE_VARS, "BOT_CACHE_DIR")
LOG_VARS = ("BOT_DB_PATH",)
MAX_LISTED = 10  # entry ids named in one check note


@dataclass(frozen=True)
class Arg:
    """One argparse argument: its flags and add_argument's keywords."""

    flags: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class CliCommand:
    """A row of the command table: the parser, main() and the docs all read it."""

    name: str
    help: str
    handler: Handler
    arguments: tuple[Arg, ...] = ()
    variables: tuple[str, ...] | None = ENGINE_VARS  # None: every variable (``run``)
    uses_log: bool = False  # takes --db, reads BOT_DB_PATH


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    locale = Locale.load()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        # The main job: the Telegram bot when a token is set, else the offline chat.
        args = parser.parse_args([_default_command(env)])
    command = COMMANDS[args.command]
    try:
        return command.handler(args, _settings(command, args, env), locale)
    except ConfigError as exc:
        for key, params in exc.problems:
            print(locale.t(key, **params), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # "python -m bot ask ... | head": the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _default_command(env: Mapping[str, str]) -> str:
    """``run`` when a token is set (load_settings then checks it), else ``chat``."""
    return "run" if env.get("TELEGRAM_BOT_TOKEN", "").strip() else "chat"


def _settings(command: CliCommand, args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """The settings ``command`` reads, validated (ConfigError), with the command's options
    (``--knowledge``, ``--db``) in place of the variables they override."""
    if command.variables is None:
        settings = load_settings(env, need_token=True)
    else:
        names = (*command.variables, *(LOG_VARS if command.uses_log else ()))
        settings = load_settings({name: env[name] for name in names if name in env})
    if args.knowledge:
        settings = replace(settings, knowledge_dir=args.knowledge)
    if getattr(args, "db", None):
        settings = replace(settings, db_path=args.db)
    return settings


KNOWLEDGE_HELP = "knowledge folder (default: $BOT_KNOWLEDGE_DIR or knowledge/)"


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser, built from COMMANDS."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Staff run these: their --help is in Indonesian (locales/id.yaml, cli.staff_help).
    locale = Locale.load()
    for command in COMMANDS.values():
        said = locale.section(f"cli.staff_help.{command.name}")
        description = said.get("description", command.help)
        p = sub.add_parser(command.name, help=description, description=description)
        p.add_argument(
            "--knowledge",
            type=Path,
            metavar="DIR",
            help=said.get("knowledge", KNOWLEDGE_HELP),
        )
        if command.uses_log:
            p.add_argument(
                "--db",
                type=Path,
                metavar="FILE",
                help=said.get("db", "question log (default: $BOT_DB_PATH or data/bot.db)"),
            )
        for argument in command.arguments:
            options = dict(argument.options)
            name = argument.flags[-1].lstrip("-").replace("-", "_")
            if name in said:
                options["help"] = said[name]
            p.add_argument(*argument.flags, **options)
    return parser


# --- shared helpers -------------------------------------------------------------------


def _engine(settings: Settings, locale: Locale) -> Engine | None:
    """The engine over the checked knowledge (from its snapshot when unchanged)."""
    index, problems = open_index(settings.knowledge_dir, settings.cache_dir)
    if index is None:
        _print_problems(problems, locale, sys.stderr)
        print(locale.t("cli.knowledge_broken"), file=sys.stderr)
        return None
    return Engine(index)


def _print_problems(problems: list[Problem], locale: Locale, out: TextIO) -> None:
    renderer = Renderer(locale)
    for problem in problems:
        print(renderer.problem(problem), file=out)


def decision_json(decision: Decision, knowledge: Knowledge, renderer: Renderer) -> dict:
    """The ``ask --json`` contract: one object per question."""
    reply = build_reply(decision, knowledge, renderer.locale)
    return {
        "question": reply.question,
        "kind": reply.kind.value,
        "id": reply.entry.id if reply.entry else None,
        "score": round(min(max(reply.score, 0.0), 100.0), 2),
        "text": renderer.reply(reply, knowledge, Format.TEXT),
        "sources": [
            {
                "title": s.title,
                "publisher": s.publisher,
                "date": s.date.isoformat() if s.date else None,
                "url": str(s.url) if s.url else None,
            }
            for s in reply.sources
        ],
        "options": [
            {"id": e.id, "title": e.title, "text": renderer.answer(e, knowledge, Format.TEXT)}
            for e in reply.options
        ],
    }


# --- commands -------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    setup_logging(settings.log_level, settings)
    engine = _engine(settings, locale)
    if engine is None:
        return 1
    from bot.telegram.app import run  # Telegram is imported only when it is needed

    run(settings, engine, locale)
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    knowledge, problems = check_knowledge(settings.knowledge_dir)
    if knowledge is not None:
        problems = [
            Problem("locales/id.yaml", 1, "smalltalk_reply", {"intent": intent})
            for intent in knowledge.smalltalk
            if not locale.has(f"smalltalk.{intent}")
        ]
    if problems:
        _print_problems(problems, locale, sys.stdout)
        print(locale.t("check.summary", count=len(problems)))
        return 1
    assert knowledge is not None
    print(
        locale.t(
            "check.ok",
            entries=len(knowledge.entries),
            questions=sum(len(e.questions) for e in knowledge.entries),
            sources=len(knowledge.sources),
            topics=len(knowledge.topics),
        )
    )
    untranslated = [e.id for e in knowledge.entries if e.en is None]
    if untranslated:  # a note, not an error: English readers get the Indonesian text
        shown = ", ".join(untranslated[:MAX_LISTED])
        more = len(untranslated) - MAX_LISTED
        print(
            locale.t(
                "check.missing_english",
                count=len(untranslated),
                ids=shown + (locale.t("check.and_more", n=more) if more > 0 else ""),
            )
        )
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    engine = _engine(settings, locale)
    if engine is None:
        return 1
    knowledge, renderer = engine.knowledge, Renderer(locale)
    questions = sys.stdin if args.question == "-" else [args.question]
    out = sys.stdout
    for line in questions:
        question = line.rstrip("\r\n")
        decision = engine.decide(question)
        if args.json:
            out.write(json.dumps(decision_json(decision, knowledge, renderer), ensure_ascii=False))
            out.write("\n")
        else:
            print(renderer.decision(decision, knowledge, Format.TEXT), file=out)
            if args.question == "-":
                print(file=out)
    out.flush()
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    engine = _engine(settings, locale)
    if engine is None:
        return 1
    knowledge, renderer = engine.knowledge, Renderer(locale)
    exit_words = set(locale.t("cli.chat_exit_words").split())
    date = renderer.date(knowledge.as_of) if knowledge.as_of else "-"
    print(locale.t("cli.chat_welcome", date=date))
    pending: tuple[Entry, ...] = ()  # the options of the last reply, picked by number
    while True:
        try:
            line = input(locale.t("cli.chat_prompt")).strip()
        except EOFError:
            print()
            break
        if line.lower() in exit_words:
            break
        if not line:
            continue
        if pending and line.isdigit() and 1 <= int(line) <= len(pending):
            text = renderer.answer(pending[int(line) - 1], knowledge, Format.TEXT)
            pending = ()
        else:
            reply = build_reply(engine.decide(line), knowledge, locale)
            text = renderer.reply(reply, knowledge, Format.TEXT)
            pending = reply.options
            if pending:
                text += "\n" + locale.t("cli.chat_pick", n=len(pending))
        print(locale.t("cli.chat_bot"), text, sep="\n", end="\n\n")
    print(locale.t("cli.chat_bye"))
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    engine = _engine(settings, locale)
    if engine is None:
        return 1
    if not args.file.exists():
        print(locale.t("cli.eval_missing", path=args.file), file=sys.stderr)
        return 1
    cases = load_cases(args.file)
    if args.file == DEFAULT_EVAL:
        cases += load_topic_cases()
    if args.shared and args.shared.exists():
        cases += load_shared_out_of_scope(args.shared, split="dev")
    if args.city and args.city.exists():
        cases += load_city(args.city)
    knowledge = engine.knowledge
    if args.few:
        knowledge = few(knowledge, args.few)
        engine = Engine(knowledge, engine.thresholds)
    renderer = Renderer(locale)

    def render(decision: Decision) -> str:
        return renderer.decision(decision, knowledge, Format.TEXT)

    if args.sweep:
        return _print_sweep(knowledge, cases, render, args.json)
    report = evaluate(engine, cases, render)
    summary = report.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    _print_summary(summary)
    misses = report.misses
    if misses:
        print(f"\nmisses ({len(misses)}):")
        for outcome in misses[: args.misses]:
            d = outcome.decision
            got = ",".join(m.entry.id for m in d.matches) or d.intent or "-"
            expect = outcome.case.expect or "|".join(outcome.case.figures) or None
            print(
                f"  [{outcome.case.set}/{outcome.case.type}] {outcome.case.q!r} "
                f"expect={expect} got={d.kind.value}:{got} score={d.score:.1f} ({d.reason})"
            )
    return 0


def _print_summary(summary: Mapping[str, float | int]) -> None:
    width = max(map(len, summary))
    for key, value in summary.items():
        shown = f"{value:.1%}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")


def _print_sweep(
    knowledge: Knowledge, cases: list, render: Callable[[Decision], str], as_json: bool
) -> int:
    """Accuracy, choice rate, wrong answers and abstention over a grid of thresholds,
    the index built once (thresholds only change the decision)."""
    index = Engine(knowledge).index
    rows = sweep(index, cases, render)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    header = list(rows[0])
    print("  ".join(f"{h:>10}" for h in header))
    for row in rows:
        print(
            "  ".join(
                f"{row[h]:>10.3f}" if isinstance(row[h], float) else f"{row[h]:>10}" for h in header
            )
        )
    return 0


def cmd_explain(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    engine = _engine(settings, locale)
    if engine is None:
        return 1
    found = explain(engine, args.question)
    if args.json:
        print(json.dumps(found.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print("\n".join(explain_lines(found, locale)))
    return 0


def explain_lines(found: Explanation, locale: Locale) -> list[str]:
    t = locale.t
    lines = [t("explain.question", question=found.question)]
    lines.append(t("explain.tokens", tokens=" ".join(found.tokens) or "-"))
    if found.steps:
        lines.append(t("explain.steps"))
        for step in found.steps:
            rule = t(f"explain.rule.{step.rule}")
            lines.append(
                t("explain.step", typed=step.typed, became=" ".join(step.became), rule=rule)
            )
    else:
        lines.append(t("explain.no_steps"))
    weights = ", ".join(f"{w} {v:g}" for w, v in found.weights.items())
    lines.append(t("explain.weights", weights=weights or "-"))
    lines.append(t("explain.candidates" if found.candidates else "explain.no_candidates"))
    for n, c in enumerate(found.candidates, 1):
        lines.append(
            t(
                "explain.candidate",
                n=n,
                id=c.id,
                score=f"{c.score:.1f}",
                coverage=round(100 * c.coverage),
                title=c.title,
            )
        )
        for name, words in c.fields.items():
            lines.append(t("explain.field", field=name, words=", ".join(words)))
        if c.unmatched:
            lines.append(t("explain.unmatched", words=", ".join(c.unmatched)))
    reason = t(f"explain.reason.{found.reason}") if found.reason else "-"
    lines.append(t("explain.decision", kind=found.kind, reason=reason))
    if found.because:
        lines.append(t("explain.because", words=", ".join(found.because)))
    if found.answer:
        lines.append(t("explain.answered", id=found.answer))
    return lines


async def _with_storage(settings: Settings, work: Callable[[Storage], Awaitable[int]]) -> int:
    if not settings.db_path.is_file():
        # Never create an empty log here: "nothing unanswered" would be a false all-clear.
        print(Locale.load().t("cli.db_missing", path=settings.db_path), file=sys.stderr)
        return 2
    storage = await Storage.open(settings.db_path)
    try:
        return await work(storage)
    finally:
        await storage.close()


def cmd_unanswered(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    renderer = Renderer(locale)

    engine = _engine(settings, locale)

    async def work(storage: Storage) -> int:
        groups = await storage.open_groups(limit=max(await storage.count_open_groups(), 1))
        if not groups:
            print(locale.t("cli.none_open"))
        # City gaps first; plainly off-topic questions only on request.
        city = [g for g in groups if engine is None or engine.index.about_city(g.normalized)]
        other = [g for g in groups if g not in city]
        for g in city + (other if args.all else []):
            print(
                locale.t(
                    "cli.group_line",
                    id=g.id,
                    count=g.count,
                    example=_cut(g.example),
                    first=renderer.date(g.first_seen.date()),
                    last=renderer.date(g.last_seen.date()),
                )
            )
        if other and not args.all:
            print(locale.t("cli.off_topic_hidden", count=len(other)))
        if args.csv:
            args.csv.write_bytes(groups_csv_bytes(groups))
            print(locale.t("cli.csv_written", path=args.csv, rows=len(groups)))
        return 0

    return asyncio.run(_with_storage(settings, work))


def _cut(text: str, limit: int = 120) -> str:
    """A long question, cut at a word for a one-line list."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def cmd_replay(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    engine = _engine(settings, locale)
    if engine is None:
        return 1

    async def work(storage: Storage) -> int:
        results = await replay_open_groups(storage, engine)
        if not results:
            print(locale.t("cli.none_open"))
        for r in results:
            key = "cli.replay_closed" if r.closed else "cli.replay_open"
            print(
                locale.t(
                    key,
                    id=r.group.id,
                    count=r.group.count,
                    example=r.group.example,
                    answered=r.answered,
                    questions=r.questions,
                    entry=r.entry_id or "-",
                )
            )
            if r.closed and args.resolve:
                await storage.set_group_status(r.group.id, "answered", entry_id=r.entry_id)
        closed = sum(r.closed for r in results)
        print(locale.t("cli.replay_summary", closed=closed, total=len(results)))
        if args.resolve and closed:
            print(locale.t("cli.replay_resolved", closed=closed))
        return 0

    return asyncio.run(_with_storage(settings, work))


def cmd_stats(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    engine = _engine(settings, locale)
    if engine is None:
        return 1
    knowledge = engine.knowledge

    async def work(storage: Storage) -> int:
        report = await storage.stats(max(1, min(args.days, 3650)))
        print("\n".join(stats_lines(report, locale, knowledge)))
        if args.png:
            args.png.write_bytes(stats_chart_png(report, locale))
            print(locale.t("cli.png_written", path=args.png))
        return 0

    return asyncio.run(_with_storage(settings, work))


def cmd_review(args: argparse.Namespace, settings: Settings, locale: Locale) -> int:
    """How robust the new or changed entries are, before /muatulang (bot/review.py)."""
    from bot.review import review

    knowledge, problems = check_knowledge(settings.knowledge_dir)
    if knowledge is None:
        _print_problems(problems, locale, sys.stdout)
        print(locale.t("check.summary", count=len(problems)))
        return 1
    code, lines = review(knowledge, settings.knowledge_dir, args.ids, settings.db_path, locale)
    print("\n".join(lines), file=sys.stdout if code == 0 else sys.stderr)
    return code


COMMANDS: Final[dict[str, CliCommand]] = {
    c.name: c
    for c in (
        CliCommand(
            "run",
            "run the Telegram bot (long polling, or webhook when WEBHOOK_URL is set)",
            cmd_run,
            variables=None,
        ),
        CliCommand(
            "chat", "interactive terminal chat with the engine (no token, no network)", cmd_chat
        ),
        CliCommand(
            "ask",
            "answer one question; with --json -, one JSON line per stdin line",
            cmd_ask,
            (
                arg("question", help="the question, or - to read one per line from stdin"),
                arg("--json", action="store_true", help="machine-readable output"),
            ),
        ),
        CliCommand(
            "check",
            "validate the knowledge files; exit 1 with file:line: problems",
            cmd_check,
            variables=KNOWLEDGE_VARS,
        ),
        CliCommand(
            "eval",
            "measure accuracy on the labelled evaluation set",
            cmd_eval,
            (
                arg("--file", type=Path, default=DEFAULT_EVAL, help="evaluation YAML"),
                arg(
                    "--shared",
                    type=Path,
                    default=SHARED_OUT_OF_SCOPE,
                    help="real out-of-scope questions (dev split used when the file exists)",
                ),
                arg(
                    "--city",
                    type=Path,
                    default=SHARED_CITY,
                    help="the shared city questions, labelled by figures (used when present)",
                ),
                arg(
                    "--few",
                    type=int,
                    metavar="N",
                    help="cut every entry to its first N example questions and N keywords",
                ),
                arg("--sweep", action="store_true", help="print the threshold grid"),
                arg("--json", action="store_true", help="print the summary as JSON"),
                arg("--misses", type=int, default=50, help="how many misses to list"),
            ),
        ),
        CliCommand(
            "explain",
            "why the bot answers a question as it does: words read, repairs, candidates, rule",
            cmd_explain,
            (
                arg("question", help="the question"),
                arg("--json", action="store_true", help="machine-readable output"),
            ),
        ),
        CliCommand(
            "unanswered",
            "list open groups of unanswered questions",
            cmd_unanswered,
            (
                arg("--csv", type=Path, metavar="FILE", help="also write them as CSV (Excel)"),
                arg("--all", action="store_true", help="also list plainly off-topic questions"),
            ),
            variables=ENGINE_VARS,
            uses_log=True,
        ),
        CliCommand(
            "replay",
            "re-ask open groups against the current knowledge",
            cmd_replay,
            (
                arg(
                    "--resolve",
                    action="store_true",
                    help="mark the groups that are now answered as answered",
                ),
            ),
            uses_log=True,
        ),
        CliCommand(
            "stats",
            "questions per day, answer rates, top entries, feedback",
            cmd_stats,
            (
                arg("--days", type=int, default=7, help="window in days (default 7)"),
                arg("--png", type=Path, metavar="FILE", help="also save the chart as PNG"),
            ),
            uses_log=True,
        ),
        CliCommand(
            "review",
            "how robust new or changed entries are (leave-one-out, variants, changed "
            "decisions), before /muatulang",
            cmd_review,
            (
                arg(
                    "ids",
                    nargs="*",
                    metavar="ENTRY_ID",
                    help="entries to review (default: those added or changed since HEAD)",
                ),
            ),
            variables=KNOWLEDGE_VARS,
            uses_log=True,
        ),
    )
}

if __name__ == "__main__":
    # Files the commands write (CSV of residents' questions, charts, snapshots) are the
    # bot user's alone, as the bot's own are (bot/config.restrict_access).
    os.umask(PRIVATE_UMASK)
    sys.exit(main())
