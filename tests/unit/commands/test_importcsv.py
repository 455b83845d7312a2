"""`publisher import FILE.csv`: one draft per row, checked like `validate`, all or nothing."""

from __future__ import annotations

import csv
import errno
import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher import cli, drafts
from publisher.commands import importcsv
from publisher.config import Config
from publisher.errors import ConfigError
from publisher.store import atomicfile
from tests.support.site import load_config, make_site

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HEADER = ["type", "account", "caption", "media", "publish_at", "first_comment", "alt_text"]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(make_site(tmp_path))


def write_csv(path: Path, rows: list[list[str]], *, header: list[str] = HEADER, **fmt: str) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=fmt.pop("lineterminator", "\n"), **fmt)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return path


def run(config: Config, source: Path, **options: object) -> importcsv.Outcome:
    return importcsv.run(config, source, clock=lambda: NOW, **options)  # type: ignore[arg-type]


def written(config: Config) -> list[Path]:
    return sorted(p for p in config.content_dir.rglob("*.yaml"))


def test_rows_round_trip_into_drafts_that_validate(config: Config, tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "posts.csv",
        [
            ["post", "main", "First light\n#sunrise", "sunrise.jpg", "2027-01-05 09:00",
             "Link in bio", "An orange sky"],
            ["carousel", "", "Two looks, one clip", "look1.jpg | look2.jpg|clip.mp4", "", "", ""],
            ["reel", "", "A reel: \"quoted\" #reels", "clip.mp4", "now", "", ""],
            ["story", "", "", "story.jpg", "2027-01-06T10:00:00+01:00", "", ""],
        ],
    )  # fmt: skip
    done = run(config, source)
    assert done.ok, done.lines
    names = sorted(p.name for p in written(config))
    assert names == [
        "2027-01-05-0900-first-light.yaml",
        "2027-01-06-0900-story.yaml",
        "now-a-reel-quoted-reels.yaml",
        "queue-00003-two-looks-one-clip.yaml",
    ]
    loaded = {p.name: drafts.load(p, config) for p in written(config)}
    assert all(not item.errors for item in loaded.values()), [
        item.errors for item in loaded.values()
    ]
    post = loaded["2027-01-05-0900-first-light.yaml"].draft
    assert post is not None
    assert (post.type, post.caption, post.first_comment, post.alt_text) == (
        "post",
        "First light\n#sunrise",
        "Link in bio",
        "An orange sky",
    )
    assert post.publish_at == datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
    carousel = loaded["queue-00003-two-looks-one-clip.yaml"].draft
    assert carousel is not None
    assert [item.source for item in carousel.media] == ["look1.jpg", "look2.jpg", "clip.mp4"]
    reel = loaded["now-a-reel-quoted-reels.yaml"].draft
    assert reel is not None and reel.publish_now and reel.caption == 'A reel: "quoted" #reels'
    text = (config.content_dir / "2027-01-05-0900-first-light.yaml").read_text()
    assert "# imported from posts.csv, row 2\n" in text
    assert done.lines[-1].endswith("4 draft(s) written")


def test_a_bom_and_windows_line_ends_are_read(config: Config, tmp_path: Path) -> None:
    source = tmp_path / "excel.csv"
    # `type` is the first header: with the BOM kept, it would not be recognised (and a
    # story cannot be inferred from its media).
    rows = [["story", "", "Line one\r\nline two", "story.jpg", "", "", ""]]
    write_csv(source, rows, lineterminator="\r\n")
    source.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
    done = run(config, source)
    assert done.ok, done.lines
    (path,) = written(config)
    draft = drafts.load(path, config).draft
    assert draft is not None and draft.caption == "Line one\nline two"
    assert draft.type == "story"
    assert b"\r" not in path.read_bytes()


def test_semicolons_as_excel_writes_them_in_some_locales(config: Config, tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "semi.csv", [["post", "", "Hi, there", "sunrise.jpg", "", "", ""]], delimiter=";"
    )
    assert run(config, source).ok
    draft = drafts.load(written(config)[0], config).draft
    assert draft is not None and draft.caption == "Hi, there"


def problems_of(config: Config, tmp_path: Path, rows: list[list[str]], **kw: object) -> list[str]:
    done = run(config, write_csv(tmp_path / "bad.csv", rows, **kw))  # type: ignore[arg-type]
    assert not done.ok
    assert written(config) == [], "nothing is written when a row is bad"
    assert done.lines[-1].startswith(f"{tmp_path / 'bad.csv'}: nothing written:")
    return done.lines[:-1]


def validate_message(config: Config, text: str) -> str:
    """The message `publisher validate` gives for a draft file (the first error)."""
    path = config.content_dir / "probe.yaml"
    path.write_text(text)
    try:
        return drafts.load(path, config).errors[0].message
    finally:
        path.unlink()


def test_a_bad_date_is_named_by_row_and_column_with_validates_message(
    config: Config, tmp_path: Path
) -> None:
    expected = validate_message(config, "type: post\nmedia: [sunrise.jpg]\npublish_at: tomorrow\n")
    lines = problems_of(
        config,
        tmp_path,
        [
            ["post", "", "Good", "sunrise.jpg", "2027-01-05 09:00", "", ""],
            ["post", "", "Bad", "sunrise.jpg", "tomorrow", "", ""],
        ],
    )
    assert lines == [f"{tmp_path / 'bad.csv'}: row 3, column publish_at: {expected}"]


def test_a_media_file_that_does_not_exist(config: Config, tmp_path: Path) -> None:
    (line,) = problems_of(config, tmp_path, [["post", "", "x", "nope.jpg", "", "", ""]])
    assert "row 2, column media: 'nope.jpg': no such file" in line


def test_a_bad_type_and_an_unknown_account(config: Config, tmp_path: Path) -> None:
    lines = problems_of(config, tmp_path, [["selfie", "shop", "x", "sunrise.jpg", "", "", ""]])
    assert any("row 2, column type: 'selfie' is not a draft type" in line for line in lines)
    assert any(
        "row 2, column account: 'shop' is not a configured account" in line for line in lines
    )


def test_an_option_the_type_does_not_take(config: Config, tmp_path: Path) -> None:
    (line,) = problems_of(config, tmp_path, [["story", "", "", "story.jpg", "", "hi", ""]])
    assert "row 2, column first_comment: is for post, carousel, reel drafts only" in line


def test_a_duplicate_row(config: Config, tmp_path: Path) -> None:
    row = ["post", "", "Same", "sunrise.jpg", "2027-01-05 09:00", "", ""]
    (line,) = problems_of(
        config, tmp_path, [row, ["post", "", "Other", "sunrise.jpg", "", "", ""], row]
    )
    assert "row 4: is the same post as row 2" in line


def test_a_row_already_imported_is_refused(config: Config, tmp_path: Path) -> None:
    row = ["post", "", "Once", "sunrise.jpg", "2027-01-05 09:00", "", ""]
    assert run(config, write_csv(tmp_path / "first.csv", [row])).ok
    done = run(config, write_csv(tmp_path / "again.csv", [row]))
    assert not done.ok
    assert "row 2: is already a draft: 2027-01-05-0900-once.yaml" in done.lines[0]
    assert len(written(config)) == 1


def test_a_missing_media_column(config: Config, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "bad.csv", [["post", "hi"]], header=["type", "caption"])
    done = run(config, source)
    assert not done.ok
    assert done.lines[0].startswith(f"{source}: row 1: no media column")


def test_a_row_with_more_cells_than_the_header(config: Config, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("type,caption,media\npost,Hello, world,sunrise.jpg\n")
    done = run(config, source)
    assert not done.ok
    assert "row 2: has 4 cells, the header 3" in done.lines[0]


def test_a_time_in_the_past_is_refused(config: Config, tmp_path: Path) -> None:
    (line,) = problems_of(
        config, tmp_path, [["post", "", "Old", "sunrise.jpg", "2026-11-30 09:00", "", ""]]
    )
    assert "row 2, column publish_at: 2026-11-30 09:00 is in the past" in line


def test_a_file_that_is_not_utf8_is_exit_2(config: Config, tmp_path: Path) -> None:
    source = tmp_path / "latin1.csv"
    source.write_bytes("type,caption,media\npost,café,sunrise.jpg\n".encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        run(config, source)
    assert "line 2: is not UTF-8 text; save the sheet as CSV UTF-8" in str(raised.value)


def test_a_missing_file_is_exit_2(
    config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["-c", str(config.config_path), "import", str(tmp_path / "none.csv")])
    assert code == 2
    assert "none.csv: no such file" in capsys.readouterr().err


def test_a_bad_row_is_exit_1_and_writes_nothing(config: Config, tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "mixed.csv",
        [
            ["post", "", "Good", "sunrise.jpg", "2027-01-05 09:00", "", ""],
            ["post", "", "Bad", "missing.jpg", "", "", ""],
        ],
    )
    out = io.StringIO()
    assert cli.main(["-c", str(config.config_path), "import", str(source)], out=out) == 1
    assert written(config) == []
    assert "nothing written: 1 problem(s) in 1 row(s)" in out.getvalue()


def test_dry_run_writes_nothing(config: Config, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "ok.csv", [["post", "", "Hi", "sunrise.jpg", "", "", ""]])
    done = run(config, source, dry_run=True)
    assert done.ok
    assert written(config) == []
    assert done.lines[0] == f"would write {config.content_dir / 'queue-00002-hi.yaml'}"


def test_an_existing_draft_is_never_overwritten(config: Config, tmp_path: Path) -> None:
    mine = config.content_dir / "queue-00002-hi.yaml"
    mine.write_text("type: post\nmedia: [look1.jpg]\n")
    source = write_csv(tmp_path / "ok.csv", [["post", "", "Hi", "sunrise.jpg", "", "", ""]])
    assert run(config, source).ok
    assert mine.read_text() == "type: post\nmedia: [look1.jpg]\n"
    assert (config.content_dir / "queue-00002-hi-2.yaml").is_file()


def test_into_a_folder_under_content_dir(config: Config, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "ok.csv", [["post", "", "Hi", "../sunrise.jpg", "", "", ""]])
    assert run(config, source, into=Path("imported")).ok
    (path,) = written(config)
    assert path.parent == config.content_dir / "imported"
    assert not drafts.load(path, config).errors
    with pytest.raises(ConfigError, match="outside content_dir"):
        run(config, source, into=Path("../elsewhere"))
    with pytest.raises(ConfigError, match="starting with . or _"):
        run(config, source, into=Path("_drafts"))


def test_other_tools_column_names_are_mapped(config: Config, tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "export.csv",
        [["Hello from elsewhere", "sunrise.jpg", "2027-02-01 10:00", "12", "Link in bio"]],
        header=["Text", "Image URL", "Scheduled At", "Likes", "First Comment"],
    )
    done = run(config, source)
    assert done.ok, done.lines
    assert any("ignored columns (not draft keys): Likes" in line for line in done.lines)
    draft = drafts.load(written(config)[0], config).draft
    assert draft is not None
    assert (draft.type, draft.caption, draft.first_comment) == (
        "post",
        "Hello from elsewhere",
        "Link in bio",
    )


def test_a_date_and_a_time_in_two_columns(config: Config, tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "two.csv",
        [["Hi", "sunrise.jpg", "2027-02-01", "10:00"]],
        header=["Caption", "Media", "Date", "Time"],
    )
    assert run(config, source).ok
    draft = drafts.load(written(config)[0], config).draft
    assert draft is not None and draft.publish_at == datetime(2027, 2, 1, 10, 0, tzinfo=UTC)


def test_the_type_is_inferred_when_left_empty(config: Config, tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "infer.csv",
        [
            ["", "", "one", "sunrise.jpg", "", "", ""],
            ["", "", "two", "look1.jpg|look2.jpg", "", "", ""],
            ["", "", "three", "clip.mp4", "", "", ""],
        ],
    )
    assert run(config, source).ok
    kinds = []
    for path in written(config):
        draft = drafts.load(path, config).draft
        assert draft is not None
        kinds.append(draft.type)
    assert kinds == ["post", "carousel", "reel"]


def test_many_rows_keep_their_order_in_the_queue(config: Config, tmp_path: Path) -> None:
    rows = [["post", "", f"Post {n}", "sunrise.jpg", "", "", ""] for n in range(150)]
    assert run(config, write_csv(tmp_path / "many.csv", rows)).ok
    paths = written(config)
    assert len(paths) == 150
    captions = [drafts.load(p, config).draft.caption for p in paths]  # type: ignore[union-attr]
    assert captions == [f"Post {n}" for n in range(150)]


def test_create_all_makes_every_file_or_none(tmp_path: Path) -> None:
    taken = tmp_path / "b.yaml"
    taken.write_text("mine")
    files = [(tmp_path / "a.yaml", b"a"), (taken, b"b"), (tmp_path / "c.yaml", b"c")]
    with pytest.raises(FileExistsError):
        atomicfile.create_all(files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.yaml"]
    assert taken.read_text() == "mine"
    atomicfile.create_all([(tmp_path / "a.yaml", b"a"), (tmp_path / "c.yaml", b"c")])
    assert (tmp_path / "a.yaml").read_bytes() == b"a"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_full_disk_midway_leaves_nothing(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [["post", "", f"Post {n}", "sunrise.jpg", "", "", ""] for n in range(3)]
    source = write_csv(tmp_path / "ok.csv", rows)
    real_link, calls = os.link, []

    def link(src: str, dst: str) -> None:  # the file system fails on the third name
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link)
    done = run(config, source)
    assert not done.ok
    assert "nothing written:" in done.lines[-1] and "No space left on device" in done.lines[-1]
    assert written(config) == []
    assert [p.name for p in config.content_dir.iterdir() if p.name.startswith(".")] == []


def test_into_a_file_is_a_sentence(config: Config, tmp_path: Path) -> None:
    (config.content_dir / "taken").write_text("a file")
    source = write_csv(tmp_path / "ok.csv", [["post", "", "Hi", "../sunrise.jpg", "", "", ""]])
    done = run(config, source, into=Path("taken"))
    assert not done.ok
    assert done.lines[-1].endswith("taken: is not a folder; name a folder under content_dir")


def test_a_photo_shared_by_rows_is_opened_once(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sheet of 1,000 rows often names the same few photos: each is checked once, and
    every row still gets its findings (here: none, and the drafts are written)."""
    opened: list[Path] = []
    real = drafts.images.check

    def counted(path: Path, *args: object, **kwargs: object) -> object:
        opened.append(path)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(drafts.images, "check", counted)
    rows = [["post", "", f"Day {n}", "sunrise.jpg", "", "", ""] for n in range(5)]
    done = run(config, write_csv(tmp_path / "posts.csv", rows))
    assert done.ok, done.lines
    assert len(written(config)) == 5
    assert opened == [config.content_dir.resolve() / "sunrise.jpg"]
