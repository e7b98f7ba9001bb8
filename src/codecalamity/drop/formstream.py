"""Incremental multipart/form-data parsing: bytes in, field and file events out, nothing spooled."""

from __future__ import annotations

import dataclasses
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from codecalamity.drop.errors import BadRequest

# Limits on the small parts of a form (hostile clients): field count, field size, part-header size.
MAX_FIELDS = 32
MAX_FIELD_BYTES = 4096
MAX_HEADER_BYTES = 16384


@dataclasses.dataclass(frozen=True)
class Field:
    """A complete text field."""

    name: str
    value: str


@dataclasses.dataclass(frozen=True)
class FileStart:
    """A file part begins; its bytes follow as :class:`FileData` events."""

    name: str
    filename: str


@dataclasses.dataclass(frozen=True)
class FileData:
    """A piece of the current file part."""

    data: bytes


@dataclasses.dataclass(frozen=True)
class FileEnd:
    """The current file part ended."""


Event = Field | FileStart | FileData | FileEnd


class FormStream:
    """Feed a multipart body piece by piece; each :meth:`feed` returns the events it completed.

    Parameters
    ----------
    content_type
        The request's Content-Type header, with its boundary.
    """

    def __init__(self, content_type: str) -> None:
        ctype, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            raise BadRequest("expected a multipart/form-data body")
        self._events: list[Event] = []
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._header_bytes = 0
        self._field: str | None = None
        self._value = bytearray()
        self._in_file = False
        self._fields = 0
        self._ended = False
        callbacks: Any = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }
        try:
            self._parser = MultipartParser(boundary, callbacks, max_header_size=MAX_HEADER_BYTES)
        except FormParserError as err:
            raise BadRequest(f"bad multipart boundary: {err}") from None

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``; return the events it completed, in order."""
        try:
            self._parser.write(data)
        except FormParserError as err:
            raise BadRequest(f"malformed multipart body: {err}") from None
        events, self._events = self._events, []
        return events

    def finish(self) -> None:
        """The body ended: raise unless the form was complete."""
        if not self._ended:
            raise BadRequest("the multipart body ended early")

    def _part_begin(self) -> None:
        self._headers = {}
        self._header_bytes = 0

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._grow_header(end - start)
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._grow_header(end - start)
        self._header_value += data[start:end]

    def _grow_header(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES:
            raise BadRequest("multipart part headers are too large")

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise BadRequest("a multipart part has no form-data name")
        name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            self._in_file = True
            filename = options[b"filename"].decode("utf-8", "replace")
            self._events.append(FileStart(name, filename))
        else:
            self._fields += 1
            if self._fields > MAX_FIELDS:
                raise BadRequest("too many form fields")
            self._in_file = False
            self._field = name
            self._value.clear()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._events.append(FileData(bytes(data[start:end])))
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise BadRequest(f"form field {self._field!r} is too long")

    def _part_end(self) -> None:
        if self._in_file:
            self._events.append(FileEnd())
        elif self._field is not None:
            self._events.append(Field(self._field, self._value.decode("utf-8", "replace")))
        self._in_file = False
        self._field = None

    def _end(self) -> None:
        self._ended = True
