"""Command line: ``python -m bot <command>``. Every command is documented in README.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot.answers import Format, Renderer
from bot.config import ConfigError, load_settings, setup_logging
from bot.evaluation import (
    DEFAULT_EVAL,
    SHARED_OUT_OF_SCOPE,
    evaluate,
    load_cases,
    load_shared_out_of_scope,
)
from bot.knowledge import Knowledge, Problem, check_knowledge
from bot.locale import Locale
from bot.matcher import Decision, DecisionKind, Engine
from bot.reports import groups_csv_bytes, replay_open_groups, stats_chart_png, stats_lines
from bot.snapshot import open_index
from bot.storage import Storage

Command = Callable[[argparse.Namespace, Locale], int]


def main(argv: Sequence[str] | None = None) -> int:
    locale = Locale.load()
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        # The main job: the Telegram bot when a token is set, else the offline chat.
        args = parser.parse_args(["run" if load_settings().token else "chat"])
    try:
        return COMMANDS[args.command](args, locale)
    except ConfigError as exc:
        for key, params in exc.problems:
            print(locale.t(key, **params), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--knowledge",
            type=Path,
            metavar="DIR",
            help="knowledge folder (default: $BOT_KNOWLEDGE_DIR or knowledge/)",
        )
        return p

    command("run", "run the Telegram bot (long polling, or webhook when WEBHOOK_URL is set)")
    command("chat", "interactive terminal chat with the engine (no token, no network)")
    ask = command("ask", "answer one question; with --json -, one JSON line per stdin line")
    ask.add_argument("question", help="the question, or - to read one per line from stdin")
    ask.add_argument("--json", action="store_true", help="machine-readable output")
    command("check", "validate the knowledge files; exit 1 with file:line: problems")
    ev = command("eval", "measure accuracy on the labelled evaluation set")
    ev.add_argument("--file", type=Path, default=DEFAULT_EVAL, help="evaluation YAML")
    ev.add_argument(
        "--shared",
        type=Path,
        default=SHARED_OUT_OF_SCOPE,
        help="real out-of-scope questions (dev split used when the file exists)",
    )
    ev.add_argument("--json", action="store_true", help="print the summary as JSON")
    ev.add_argument("--misses", type=int, default=50, help="how many misses to list")

    def staff_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = command(name, help_text)
        p.add_argument(
            "--db",
            type=Path,
            metavar="FILE",
            help="question log (default: $BOT_DB_PATH or data/bot.db)",
        )
        return p

    un = staff_command("unanswered", "list open groups of unanswered questions")
    un.add_argument("--csv", type=Path, metavar="FILE", help="also write them as CSV (Excel)")
    rp = staff_command("replay", "re-ask open groups against the current knowledge")
    rp.add_argument(
        "--resolve", action="store_true", help="mark the groups that are now answered as answered"
    )
    st = staff_command("stats", "questions per day, answer rates, top entries, feedback")
    st.add_argument("--days", type=int, default=7, help="window in days (default 7)")
    st.add_argument("--png", type=Path, metavar="FILE", help="also save the chart as PNG")
    return parser


# --- shared helpers -------------------------------------------------------------------


def _knowledge_dir(args: argparse.Namespace) -> Path:
    return args.knowledge or load_settings().knowledge_dir


def _engine(args: argparse.Namespace, locale: Locale) -> Engine | None:
    """The engine over the checked knowledge (from its snapshot when unchanged)."""
    index, problems = open_index(_knowledge_dir(args), load_settings().cache_dir)
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
    entry = decision.entry
    sources = []
    if entry is not None:
        sources = [
            {
                "title": s.title,
                "publisher": s.publisher,
                "date": s.date.isoformat(),
                "url": str(s.url) if s.url else None,
            }
            for s in knowledge.sources_of(entry)
        ]
    options = []
    if decision.kind is DecisionKind.CHOICES:
        options = [
            {
                "id": m.entry.id,
                "title": m.entry.title,
                "text": renderer.answer(m.entry, knowledge, Format.TEXT),
            }
            for m in decision.matches
        ]
    return {
        "question": decision.question,
        "kind": decision.kind.value,
        "id": entry.id if entry else None,
        "score": round(min(max(decision.score, 0.0), 100.0), 2),
        "text": renderer.decision(decision, knowledge, Format.TEXT),
        "sources": sources,
        "options": options,
    }


# --- commands -------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, locale: Locale) -> int:
    settings = load_settings(need_token=True)
    if args.knowledge:
        settings = replace(settings, knowledge_dir=args.knowledge)
    setup_logging(settings.log_level, settings)
    engine = _engine(args, locale)
    if engine is None:
        return 1
    from bot.telegram.app import run  # Telegram is imported only when it is needed

    run(settings, engine, locale)
    return 0


def cmd_check(args: argparse.Namespace, locale: Locale) -> int:
    knowledge, problems = check_knowledge(_knowledge_dir(args))
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
    return 0


def cmd_ask(args: argparse.Namespace, locale: Locale) -> int:
    engine = _engine(args, locale)
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


def cmd_chat(args: argparse.Namespace, locale: Locale) -> int:
    engine = _engine(args, locale)
    if engine is None:
        return 1
    knowledge, renderer = engine.knowledge, Renderer(locale)
    exit_words = set(locale.t("cli.chat_exit_words").split())
    date = renderer.date(knowledge.as_of) if knowledge.as_of else "-"
    print(locale.t("cli.chat_welcome", date=date))
    pending: tuple = ()
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
            reply = renderer.answer(pending[int(line) - 1].entry, knowledge, Format.TEXT)
            pending = ()
        else:
            decision = engine.decide(line)
            reply = renderer.decision(decision, knowledge, Format.TEXT)
            pending = decision.matches if decision.kind is DecisionKind.CHOICES else ()
            if pending:
                reply += "\n" + locale.t("cli.chat_pick", n=len(pending))
        print(locale.t("cli.chat_bot"), reply, sep="\n", end="\n\n")
    print(locale.t("cli.chat_bye"))
    return 0


def cmd_eval(args: argparse.Namespace, locale: Locale) -> int:
    engine = _engine(args, locale)
    if engine is None:
        return 1
    if not args.file.exists():
        print(locale.t("cli.eval_missing", path=args.file), file=sys.stderr)
        return 1
    cases = load_cases(args.file)
    if args.shared and args.shared.exists():
        cases += load_shared_out_of_scope(args.shared, split="dev")
    report = evaluate(engine, cases)
    summary = report.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    width = max(map(len, summary))
    for key, value in summary.items():
        shown = f"{value:.1%}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    misses = report.misses
    if misses:
        print(f"\nmisses ({len(misses)}):")
        for outcome in misses[: args.misses]:
            d = outcome.decision
            got = ",".join(m.entry.id for m in d.matches) or d.intent or "-"
            print(
                f"  [{outcome.case.type}] {outcome.case.q!r} expect={outcome.case.expect} "
                f"got={d.kind.value}:{got} score={d.score:.1f}"
            )
    return 0


def _db_path(args: argparse.Namespace) -> Path:
    return args.db or load_settings().db_path


async def _with_storage(args: argparse.Namespace, work: Callable[[Storage], Awaitable[int]]) -> int:
    storage = await Storage.open(_db_path(args))
    try:
        return await work(storage)
    finally:
        await storage.close()


def cmd_unanswered(args: argparse.Namespace, locale: Locale) -> int:
    renderer = Renderer(locale)

    async def work(storage: Storage) -> int:
        groups = await storage.open_groups(limit=max(await storage.count_open_groups(), 1))
        if not groups:
            print(locale.t("cli.none_open"))
        for g in groups:
            print(
                locale.t(
                    "cli.group_line",
                    id=g.id,
                    count=g.count,
                    example=g.example,
                    first=renderer.date(g.first_seen.date()),
                    last=renderer.date(g.last_seen.date()),
                )
            )
        if args.csv:
            args.csv.write_bytes(groups_csv_bytes(groups))
            print(locale.t("cli.csv_written", path=args.csv, rows=len(groups)))
        return 0

    return asyncio.run(_with_storage(args, work))


def cmd_replay(args: argparse.Namespace, locale: Locale) -> int:
    engine = _engine(args, locale)
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

    return asyncio.run(_with_storage(args, work))


def cmd_stats(args: argparse.Namespace, locale: Locale) -> int:
    engine = _engine(args, locale)
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

    return asyncio.run(_with_storage(args, work))


COMMANDS: dict[str, Command] = {
    "run": cmd_run,
    "chat": cmd_chat,
    "ask": cmd_ask,
    "check": cmd_check,
    "eval": cmd_eval,
    "unanswered": cmd_unanswered,
    "replay": cmd_replay,
    "stats": cmd_stats,
}

if __name__ == "__main__":
    sys.exit(main())
