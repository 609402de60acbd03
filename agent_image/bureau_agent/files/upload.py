"""Streaming multipart upload: the file part goes straight to disk, never whole into memory.

Starlette's form parser spools to a temporary file and only then lets us look at the size; this
parser writes each piece of the ``file`` part to its final place as it arrives and stops at the
size limit, so a 512 MB upload costs one pass and a few KB of memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from bureau_agent.retrieval.errors import InvalidRequest

MAX_FIELD_BYTES = 64 * 1024


class TooLarge(InvalidRequest):
    pass


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    size: int = 0


class _Receiver:
    def __init__(self, dest: Path, max_bytes: int) -> None:
        self.dest = dest
        self.max_bytes = max_bytes
        self.upload = Upload()
        self._handle: IO[bytes] | None = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._value = bytearray()
        self._is_file = False

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._value = bytearray()
        self._is_file = False

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if self._name == "file" and filename is not None:
            if self._handle is not None:
                raise InvalidRequest("Only one file may be uploaded per request.", "file")
            self._is_file = True
            self.upload.filename = Path(filename.decode("utf-8", "replace")).name
            self._handle = self.dest.open("wb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            assert self._handle is not None
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise TooLarge(
                    f"File is too large: the limit is {self.max_bytes // (1024 * 1024)} MB.", "file"
                )
            self._handle.write(data[start:end])
        else:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                raise InvalidRequest(f"Form field '{self._name}' is too large.", self._name)

    def _part_end(self) -> None:
        if not self._is_file and self._name:
            self.upload.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


async def receive_upload(request: Request, dest: Path, max_bytes: int) -> Upload:
    """Parse a ``multipart/form-data`` body, writing the ``file`` part to ``dest``.

    On any error ``dest`` is removed and ``InvalidRequest`` (param ``file`` or the field) raised.
    """
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidRequest("Expected a multipart/form-data body with a 'file' part.", "file")
    receiver = _Receiver(dest, max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for piece in request.stream():
            parser.write(piece)
        parser.finalize()
    except InvalidRequest:
        receiver.close()
        _discard(dest)
        raise
    except Exception as exc:  # the parser's own errors on a malformed body
        receiver.close()
        _discard(dest)
        raise InvalidRequest(f"Malformed multipart body: {exc}", "file") from None
    receiver.close()
    if receiver.upload.filename is None:
        _discard(dest)
        raise InvalidRequest("Missing required parameter: 'file'.", "file")
    return receiver.upload


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)
