"""`check` finds every class of mistake staff can make, at the right file and line,
and a broken folder never half-loads."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from bot.__main__ import main
from bot.answers import Renderer
from bot.knowledge import (
    KnowledgeError,
    KnowledgeFile,
    check_knowledge,
    knowledge_files,
    load_knowledge,
)
from bot.paths import KNOWLEDGE_DIR
from tests.conftest import MINI_ENTRIES, write_knowledge


def problems_of(folder: Path, renderer: Renderer) -> list[str]:
    knowledge, problems = check_knowledge(folder)
    assert knowledge is None, "a folder with problems must not load"
    return [renderer.problem(p) for p in problems]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = text.splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if needle in line]
    return hits[occurrence - 1]


def test_mini_knowledge_is_valid(mini_dir: Path) -> None:
    knowledge, problems = check_knowledge(mini_dir)
    assert problems == []
    assert knowledge is not None
    assert [e.id for e in knowledge.entries] == ["uhc", "embung"]
    assert knowledge.slang["brp"] == "berapa"
    assert knowledge.smalltalk["greeting"] == ("halo", "hai")


def test_bundled_knowledge_passes_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "Pengetahuan valid" in out


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path, renderer: Renderer) -> None:
    broken = MINI_ENTRIES.replace("    kind: facility", "    kind: facility\n   oops: [")
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    [message] = problems_of(folder, renderer)
    assert message.startswith("knowledge/entries.yaml:")
    assert "YAML tidak bisa dibaca" in message


def test_unknown_key_is_reported_at_its_line(tmp_path: Path, renderer: Renderer) -> None:
    broken = MINI_ENTRIES.replace("    kind: facility", "    kind: facility\n    alamat: Jl. X")
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    [message] = problems_of(folder, renderer)
    assert message == (
        f"knowledge/entries.yaml:{line_of(broken, 'alamat')}: "
        "entri 'embung', alamat: kolom ini tidak dikenal (salah ketik?)"
    )


def test_wrong_types_and_missing_fields(tmp_path: Path, renderer: Renderer) -> None:
    broken = (
        MINI_ENTRIES.replace("        value: 98.76", "        value: banyak")
        .replace("    as_of: 2025-12-22\n", "", 1)
        .replace("    kind: facility", "    kind: taman")
    )
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    messages = problems_of(folder, renderer)
    # Where, as staff name it (the entry's id, the figure's number), and the fix.
    assert any(
        "entri 'uhc', angka ke-1, value: value hanya boleh angka: tulis angkanya di 'value:'" in m
        for m in messages
    )
    assert any("entri 'uhc', as_of: kolom wajib ini belum diisi" in m for m in messages)
    assert any(
        f":{line_of(broken, 'kind: taman')}: entri 'embung', kind: nilai ini tidak termasuk" in m
        for m in messages
    )


def test_missing_source_and_dangling_related(tmp_path: Path, renderer: Renderer) -> None:
    broken = MINI_ENTRIES.replace("related: [embung]", "related: [bendungan]").replace(
        "    sources: [sumber-uji]\n    as_of: 2025-12-22\n  - id: embung",
        "    sources: [koran-lain]\n    as_of: 2025-12-22\n  - id: embung",
    )
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    messages = problems_of(folder, renderer)
    assert f"knowledge/entries.yaml:{line_of(broken, 'bendungan')}: entri 'uhc': related " in (
        "\n".join(messages)
    )
    assert any("sumber 'koran-lain' tidak ada di sources.yaml" in m for m in messages)


def test_duplicate_ids_across_files(tmp_path: Path, renderer: Renderer) -> None:
    other = "entries:\n" + MINI_ENTRIES.split("  - id: embung", 1)[1].join(["  - id: embung", ""])
    other = other.replace("embung aji raden", "embung lain").replace("embung udah", "embung sdh")
    other = other.replace("air baku embung", "air baku").replace("pembangunan embung", "bangun")
    other = other.replace("selesai kapan", "kpn")
    folder = write_knowledge(tmp_path / "knowledge", more__yaml=other)
    messages = problems_of(folder, renderer)
    assert any(
        m.startswith("knowledge/more.yaml:2: id entry 'embung' sudah dipakai") for m in messages
    )


def test_question_claimed_by_two_entries(tmp_path: Path, renderer: Renderer) -> None:
    # Same question after normalisation: slang and case do not make it different.
    broken = MINI_ENTRIES.replace("      - air baku embung", "      - BRP persen warga punya BPJS")
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    [message] = problems_of(folder, renderer)
    assert message.startswith(f"knowledge/entries.yaml:{line_of(broken, 'BRP persen')}: ")
    assert "sudah dipakai entri 'uhc'" in message


def test_number_in_answer_must_be_a_figure(tmp_path: Path, renderer: Renderer) -> None:
    broken = MINI_ENTRIES.replace("98,76 persen", "98,67 persen dari 7.140 warga")
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    messages = problems_of(folder, renderer)
    assert len(messages) == 2
    assert "angka 98,67 di answer tidak ada di figures" in messages[0]
    assert "angka 7.140 di answer" in messages[1]
    assert messages[0].startswith(f"knowledge/entries.yaml:{line_of(broken, 'answer:')}:")


def test_yaml_anchors_and_aliases_are_refused(tmp_path: Path, renderer: Renderer) -> None:
    bomb = 'slang:\n  a: &a ["x","x"]\n  b: [*a,*a,*a]\n'
    folder = write_knowledge(tmp_path / "knowledge", slang__yaml=bomb)
    [message] = problems_of(folder, renderer)
    assert message.startswith("knowledge/slang.yaml:2: anchor/alias YAML")


def test_oversized_file_is_refused_without_parsing(tmp_path: Path, renderer: Renderer) -> None:
    folder = write_knowledge(tmp_path / "knowledge")
    (folder / "huge.yaml").write_text("slang:\n" + "  x: y\n" * 200_000, encoding="utf-8")
    [message] = problems_of(folder, renderer)
    assert message.startswith("knowledge/huge.yaml:1: file terlalu besar")


def test_a_file_that_cannot_be_read_is_named_not_a_crash(
    tmp_path: Path, renderer: Renderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests run as root, who can read anything: the refusal is simulated at the
    one call that reads files."""
    from bot.snapshot import open_index

    folder = write_knowledge(tmp_path / "knowledge")
    locked = folder / "topics.yaml"
    read_bytes = Path.read_bytes

    def refuse(path: Path) -> bytes:
        if path == locked:
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    [message] = problems_of(folder, renderer)
    assert message == "knowledge/topics.yaml:1: file tidak bisa dibuka (Permission denied); " + (
        "periksa izin aksesnya"
    )
    index, problems = open_index(folder, tmp_path / "cache")  # as the bot starts or reloads
    assert index is None and [p.code for p in problems] == ["file_unreadable"]


def test_50mb_file_is_refused_by_check_without_reading_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_knowledge(tmp_path / "knowledge")
    with (folder / "huge.yaml").open("wb") as fh:  # 50 MB on disk, never parsed
        fh.write(b"slang:\n")
        fh.truncate(50 * 1024 * 1024)
    assert main(["check", "--knowledge", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"knowledge/huge.yaml:1: file terlalu besar ({50 * 1024 * 1024} byte" in out


def test_duplicate_yaml_key_is_an_error(tmp_path: Path, renderer: Renderer) -> None:
    broken = MINI_ENTRIES.replace("    kind: facility", "    kind: facility\n    kind: program")
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    [message] = problems_of(folder, renderer)
    assert "kolom 'kind' ditulis dua kali" in message


def test_broken_file_never_half_loads(tmp_path: Path) -> None:
    folder = write_knowledge(tmp_path / "knowledge", extra__yaml="entries: [")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(folder)
    assert caught.value.problems[0].file == "knowledge/extra.yaml"


def test_check_command_exit_code_and_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_knowledge(
        tmp_path / "knowledge", entries__yaml=MINI_ENTRIES.replace("[embung]", "[x]")
    )
    assert main(["check", "--knowledge", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "knowledge/entries.yaml:" in out
    assert "1 masalah ditemukan" in out
    assert main(["check", "--knowledge", str(write_knowledge(tmp_path / "ok" / "knowledge"))]) == 0


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path, renderer: Renderer) -> None:
    broken = MINI_ENTRIES.replace("[embung]", "[x]").replace("98,76 persen", "12 persen")
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    assert len(problems_of(folder, renderer)) == 2


def test_yes_no_on_off_stay_words(tmp_path: Path) -> None:
    """YAML 1.1 would turn these into booleans; in a word list they are words."""
    slang = "slang:\n  brp: berapa\nfillers: [on, no, yes, off, y, ya]\n"
    knowledge = load_knowledge(write_knowledge(tmp_path / "knowledge", slang__yaml=slang))
    assert {"on", "no", "yes", "off", "y", "ya"} <= knowledge.fillers


def test_numbers_are_read_as_yaml_1_2(tmp_path: Path) -> None:
    """YAML 1.1 reads 7:30 as 450 (base 60) and 0755 as 493 (octal); knowledge is read
    as YAML 1.2, where 7:30 stays a time. A plain 0812 is the number 812 there, so the
    staff guide says to quote numbers whose leading zero matters."""
    slang = "slang:\n  brp: berapa\n  jam: 7:30\nfillers: [0755, 0812, '0812', 1:30:00]\n"
    knowledge = load_knowledge(write_knowledge(tmp_path / "knowledge", slang__yaml=slang))
    assert knowledge.slang["jam"] == "7:30"
    assert {"755", "812", "0812", "1:30:00"} <= knowledge.fillers


def test_an_anchor_alone_is_refused_too(tmp_path: Path, renderer: Renderer) -> None:
    slang = "slang:\n  brp: berapa\n  a: &kata kata\n"
    folder = write_knowledge(tmp_path / "knowledge", slang__yaml=slang)
    [message] = problems_of(folder, renderer)
    assert message.startswith("knowledge/slang.yaml:3: anchor/alias YAML")


def test_a_control_character_is_a_yaml_problem_at_its_line(
    tmp_path: Path, renderer: Renderer
) -> None:
    slang = "slang:\n  brp: berapa\n  bel: ding\x07\n"
    folder = write_knowledge(tmp_path / "knowledge", slang__yaml=slang)
    [message] = problems_of(folder, renderer)
    assert message.startswith("knowledge/slang.yaml:3: YAML tidak bisa dibaca")


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("!!int banyak", 2),  # PyYAML's own constructor raises a ValueError on this
        ("!!bool mungkin", 2),  # ... and a KeyError on this
        ("!!int", 2),  # ... and an IndexError on this
        ("!!null sesuatu", 1),  # only yaml-rs refuses this one, and names no line
        ('"tutup kutip', 2),
    ],
)
def test_a_badly_tagged_or_quoted_value_is_a_problem_not_a_crash(
    tmp_path: Path, renderer: Renderer, value: str, line: int
) -> None:
    slang = f"fillers:\n  - {value}\n"
    folder = write_knowledge(tmp_path / "knowledge", slang__yaml=slang)
    [message] = problems_of(folder, renderer)
    said = "ada tanda kutip atau kurung" if value.startswith('"') else "YAML tidak bisa dibaca"
    assert message.startswith(f"knowledge/slang.yaml:{line}: {said}")


def test_a_problem_next_to_a_value_pyyaml_cannot_build_is_at_its_line(
    tmp_path: Path, renderer: Renderer
) -> None:
    """A local tag (`!jenis`) is read by yaml-rs but PyYAML cannot build it; lines come
    from PyYAML's node tree, which needs no building."""
    entries = MINI_ENTRIES.replace("    kind: facility", "    kind: !jenis facility\n    x: 1")
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=entries)
    [message] = problems_of(folder, renderer)
    line = line_of(entries, "    x: 1")
    assert message.startswith(f"knowledge/entries.yaml:{line}: entri 'embung', x")


def test_deep_nesting_in_a_file_with_an_ampersand_is_a_problem_not_a_crash(
    tmp_path: Path, renderer: Renderer
) -> None:
    slang = "# K3 & lingkungan\nfillers: " + "[" * 5000 + "]" * 5000 + "\n"
    folder = write_knowledge(tmp_path / "knowledge", slang__yaml=slang)
    [message] = problems_of(folder, renderer)
    assert message.startswith("knowledge/slang.yaml:")
    assert "YAML tidak bisa dibaca" in message


def test_the_bundled_files_read_the_same_as_with_pyyaml() -> None:
    """yaml-rs reads the knowledge; PyYAML (the loader the lines come from) must agree
    on every value of the bundled files, or problems would be put at the wrong line."""

    class YAML12Booleans(yaml.SafeLoader):
        yaml_implicit_resolvers: ClassVar[dict] = {
            first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

    knowledge = load_knowledge(KNOWLEDGE_DIR)
    by_id = {e.id: e for e in knowledge.entries}
    compared = 0
    for path in knowledge_files(KNOWLEDGE_DIR):
        model = KnowledgeFile.model_validate(
            yaml.load(path.read_text(encoding="utf-8"), Loader=YAML12Booleans)
        )
        for entry in model.entries:
            assert by_id[entry.id].model_dump() == entry.model_dump()
            compared += 1
        assert all(knowledge.slang[k] == v for k, v in model.slang.items())
    assert compared == len(knowledge.entries)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("\t", "ada karakter tab di baris ini; ganti tab dengan spasi"),
        ("title: Catatan: ini", "tanda titik dua (:) di tempat yang salah"),
    ],
)
def test_a_yaml_mistake_says_the_fix_in_indonesian(
    tmp_path: Path, renderer: Renderer, damage: str, said: str
) -> None:
    if damage == "\t":
        broken = MINI_ENTRIES.replace("    kind: facility", "\tkind: facility")
    else:
        broken = MINI_ENTRIES.replace("    title: Embung Aji Raden", f"    {damage}")
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    [message] = problems_of(folder, renderer)
    assert said in message
    assert "found" not in message and "mapping values" not in message  # no parser English


def test_an_unknown_source_names_the_closest_ids(tmp_path: Path, renderer: Renderer) -> None:
    broken = MINI_ENTRIES.replace("    sources: [sumber-uji]", "    sources: [sumber-ujii]", 1)
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    messages = problems_of(folder, renderer)
    assert any(
        "sumber 'sumber-ujii' tidak ada di sources.yaml (yang mirip: sumber-uji)" in m
        for m in messages
    )


def test_a_number_missing_from_the_figures_says_the_two_fixes(
    tmp_path: Path, renderer: Renderer
) -> None:
    broken = MINI_ENTRIES.replace("mencapai 98,76 persen", "mencapai 98,76 persen di 362 titik")
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=broken)
    [message] = problems_of(folder, renderer)
    assert "tambahkan figure dengan 'value: 362'" in message
    assert "atau hapus angka itu dari answer" in message


def test_check_notes_entries_without_english_and_accepts_an_english_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml=MINI_ENTRIES)
    assert main(["check", "--knowledge", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "2 entri belum punya teks bahasa Inggris" in out and "uhc, embung" in out

    english = (
        "    en:\n"
        "      title: Health insurance cover\n"
        "      answer: Almost every resident is covered.\n"
        "      questions: [how many residents have health insurance, uhc coverage]\n"
    )
    translated = MINI_ENTRIES.replace("\n  - id: embung", "\n" + english + "  - id: embung", 1)
    folder = write_knowledge(tmp_path / "again", entries__yaml=translated)
    knowledge, problems = check_knowledge(folder)
    assert problems == [] and knowledge is not None
    uhc = knowledge.entry("uhc")
    assert uhc is not None and uhc.en is not None and uhc.en.title == "Health insurance cover"
    assert main(["check", "--knowledge", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "1 entri belum punya teks bahasa Inggris" in out and ": embung" in out

    too_few = translated.replace(", uhc coverage]", "]")
    folder = write_knowledge(tmp_path / "few", entries__yaml=too_few)
    _, problems = check_knowledge(folder)
    assert problems, "an English block needs at least two example questions"
