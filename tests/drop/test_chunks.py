"""Dropzone's chunk fields: every inconsistency is a clear 4xx."""

from __future__ import annotations

import uuid

import pytest

from codecalamity.drop.chunks import parse_chunk, parse_upload_id
from codecalamity.drop.errors import BadRequest, TooLarge

from .conftest import chunk_fields

UID = str(uuid.uuid4())


def test_valid_chunk() -> None:
    info = parse_chunk(chunk_fields(UID, 2, 2500, 1000), 10_000)
    assert (info.index, info.count, info.offset, info.expected) == (2, 3, 2000, 500)


@pytest.mark.parametrize(
    "bad",
    ["../../etc", "/etc/passwd", "x" * 5000, "not-a-uuid", "", UID + "/..", "{" + UID + "}", UID.replace("-", "")],
)
def test_upload_ids_that_are_not_canonical_uuids_are_refused(bad: str) -> None:
    with pytest.raises(BadRequest):
        parse_upload_id(bad)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dzchunkindex": None}, "missing field dzchunkindex"),
        ({"dzchunkindex": "-1"}, "non-negative integer"),
        ({"dzchunkindex": "1.5"}, "non-negative integer"),
        ({"dzchunkindex": "abc"}, "non-negative integer"),
        ({"dztotalchunkcount": "7"}, "does not match"),
        ({"dzchunkindex": "3"}, "out of range"),
        ({"dzchunkbyteoffset": "999"}, "is not chunk"),
        ({"dzchunksize": "0"}, "dzchunksize"),
        ({"dztotalfilesize": "99999999999999999999999"}, "non-negative integer"),
    ],
)
def test_inconsistent_fields(overrides: dict[str, str | None], message: str) -> None:
    fields = chunk_fields(UID, 1, 2500, 1000)
    for key, value in overrides.items():
        if value is None:
            del fields[key]
        else:
            fields[key] = value
    with pytest.raises(BadRequest, match=message):
        parse_chunk(fields, 10_000)


def test_total_over_the_limit() -> None:
    with pytest.raises(TooLarge):
        parse_chunk(chunk_fields(UID, 0, 20_000, 1000), 10_000)
