"""File names from clients: shown as given less folders and control characters, stored safely."""

from __future__ import annotations

import pytest

from codecalamity.drop.names import disk_name, display_name, numbered


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("/abs/path.txt", "path.txt"),
        ("a\x00b\x1fc\x7f.txt", "abc.txt"),
        ("CON.txt", "_CON.txt"),
        ("lpt1", "_lpt1"),
        ("nul.tar.gz", "_nul.tar.gz"),
        ("..", "upload"),
        ("", "upload"),
        ("   ", "upload"),
        ('what?<"|*>.txt', "what______.txt"),
        ("trailing. . ", "trailing"),
        ("<img src=x onerror=alert(1)>.png", "_img src=x onerror=alert(1)_.png"),
    ],
)
def test_disk_name(raw: str, expected: str) -> None:
    assert disk_name(raw) == expected


def test_long_names_are_cut_but_keep_the_extension() -> None:
    name = disk_name("é" * 5000 + ".jpeg")
    assert name.endswith(".jpeg")
    assert len(name.encode()) <= 200
    name.encode("utf-8")  # no broken multi-byte sequence


def test_display_name_keeps_html_as_text() -> None:
    assert display_name("<b>hi</b>.txt") == "b>.txt"  # "/" separates folders, even inside tags
    assert display_name("<script>x.txt") == "<script>x.txt"


def test_display_name_undoes_the_browsers_quote_escape() -> None:
    assert display_name("say %22hi%22.txt") == 'say "hi".txt'


def test_numbered() -> None:
    assert numbered("a.txt", 0) == "a.txt"
    assert numbered("a.txt", 2) == "a (2).txt"
    assert numbered("noext", 1) == "noext (1)"
    assert numbered(".hidden", 1) == ".hidden (1)"
