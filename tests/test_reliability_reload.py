"""/muatulang (/reload) with hostile or broken knowledge files, through Telegram.

Each bad file is dropped next to the bundled knowledge and a staff member reloads:
the reply names the file and line of the problem, and the running bot keeps the
knowledge it had — the same object, answering as before.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.knowledge import MAX_FILE_BYTES
from bot.paths import KNOWLEDGE_DIR
from tests.support import make_command_update, make_text_update
from tests.support.harness import STAFF_ID, UHC_QUESTION, Harness, only_message, sent

FIFTY_MB = 50 * 1024 * 1024

BILLION_LAUGHS = """\
slang:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""

ENTRY = """\
entries:
  - id: {id}
    kind: program
    title: Program uji muat ulang
    answer: Menurut paparan Pemkot, program uji ini berjalan.
    questions:
      - program uji muat ulang satu
      - program uji muat ulang dua
      - program uji muat ulang tiga
      - program uji muat ulang empat
      - program uji muat ulang lima
    topics: [{topic}]
    sources: [{source}]
    as_of: {as_of}
{extra}"""


def entry(
    id: str = "program-uji-muat",
    topic: str = "kesehatan",
    source: str = "berandapost-2025-12-22-ekspos-akhir-tahun",
    as_of: str = "2025-12-22",
    extra: str = "",
) -> str:
    return ENTRY.format(id=id, topic=topic, source=source, as_of=as_of, extra=extra)


def write_huge(path: Path) -> None:
    """A real 50 MB YAML file (a valid mapping, repeated)."""
    line = b"  kata: kata\n"
    chunk = line * (1024 * 1024 // len(line))
    with path.open("wb") as fh:
        fh.write(b"slang:\n")
        while fh.tell() < FIFTY_MB:
            fh.write(chunk)


# (file name, how to write it, text on the problem's line (None: any line), message)
CASES: list[tuple[str, Any, str | None, str]] = [
    ("huge.yaml", write_huge, "slang:", "file terlalu besar"),
    ("bomb.yaml", BILLION_LAUGHS, "&a", "anchor/alias YAML"),
    (
        "types.yaml",
        entry(as_of="kemarin", extra="    figures: banyak\n"),
        None,
        "harus",
    ),
    ("unknown.yaml", entry(extra="    alamat: Jl. Sudirman\n"), "alamat", "tidak dikenal"),
    # The file read last (by name) is the one told that the id is taken.
    ("zz-duplicate.yaml", entry(id="uhc-jaminan-kesehatan"), "id: uhc", "sudah dipakai di"),
    ("source.yaml", entry(source="koran-tidak-ada"), "sources:", "sumber 'koran-tidak-ada'"),
    ("topic.yaml", entry(topic="topik-fiktif"), "topics:", "topik 'topik-fiktif'"),
    ("syntax.yaml", "entries:\n  - id: rusak\n   title: [tidak ditutup\n", None, "YAML"),
    ("latin1.yaml", "slang:\n  caf\xe9: kafe\n".encode("latin-1"), "slang:", "UTF-8"),
    ("list.yaml", "- id: x\n- id: y\n", "- id: x", "bagian"),
]


@pytest.fixture
async def reloadable(make_bot: Any, tmp_path: Path) -> Harness:
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, folder)
    return await make_bot(knowledge_dir=folder)


@pytest.mark.parametrize(
    ("name", "content", "needle", "message"), CASES, ids=[c[0].split(".")[0] for c in CASES]
)
async def test_a_bad_knowledge_file_is_refused_and_the_old_knowledge_kept(
    reloadable: Harness, name: str, content: Any, needle: str | None, message: str
) -> None:
    bot = reloadable
    before = bot.engine.knowledge
    answer_before = only_message(await bot.send(make_text_update(UHC_QUESTION)))["text"]
    path = bot.settings.knowledge_dir / name
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    line = None
    if needle is not None:
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace").splitlines()
        line = next(i for i, text in enumerate(head, 1) if needle in text)

    for command in ("muatulang", "reload"):
        calls = await bot.send(make_command_update(command, user_id=STAFF_ID))
        text = html.unescape("\n".join(c["text"] for c in sent(calls)))
        assert text.startswith("❌ Pengetahuan TIDAK dimuat ulang"), text
        found = re.findall(rf"knowledge/{re.escape(name)}:(\d+): ([^\n]*)", text)
        assert found, text
        if line is not None:
            assert any(int(n) == line and message in what for n, what in found), found
        else:
            assert all(int(n) >= 2 for n, _ in found) and any(message in w for _, w in found)
        assert bot.t("error.generic") not in text

    assert bot.engine.knowledge is before
    again = only_message(await bot.send(make_text_update(UHC_QUESTION)))
    assert again["text"] == answer_before


async def test_the_50mb_file_is_refused_by_size_not_read(reloadable: Harness) -> None:
    """Refused from its size alone: a file that would take minutes to parse never is."""
    bot = reloadable
    path = bot.settings.knowledge_dir / "huge.yaml"
    with path.open("wb") as fh:  # sparse: 50 MB on paper, and not a line of YAML
        fh.truncate(FIFTY_MB)
    text = only_message(await bot.send(make_command_update("muatulang", user_id=STAFF_ID)))
    expected = bot.t("check.problem.file_too_large", size=FIFTY_MB, limit=MAX_FILE_BYTES)
    assert f"knowledge/huge.yaml:1: {expected}" in text["text"]


async def test_a_good_reload_after_a_refused_one_works(reloadable: Harness) -> None:
    bot = reloadable
    bad = bot.settings.knowledge_dir / "bomb.yaml"
    bad.write_text(BILLION_LAUGHS, encoding="utf-8")
    await bot.send(make_command_update("muatulang", user_id=STAFF_ID))
    bad.unlink()
    good = bot.settings.knowledge_dir / "extra.yaml"
    good.write_text(entry(), encoding="utf-8")
    text = only_message(await bot.send(make_command_update("muatulang", user_id=STAFF_ID)))
    assert text["text"].startswith("✅ Pengetahuan dimuat ulang")
    assert bot.engine.knowledge.entry("program-uji-muat") is not None
    answer = only_message(await bot.send(make_text_update("program uji muat ulang tiga")))
    assert answer["text"].startswith("<b>Program uji muat ulang</b>")
