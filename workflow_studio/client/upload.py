"""A streaming multipart/form-data body with a known length, for artifact uploads.

``requests`` builds ``files=`` bodies in memory and reports no progress; this object is a
file-like ``data=`` body that reads the artifact from disk as it is sent, so a 64 MB upload
needs no 64 MB buffer and ``progress(sent, total)`` can drive a progress bar.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


class MultipartUpload:
    """Parts are added first, then the object is read once (by requests) and closed."""

    def __init__(self, progress: Callable[[int, int], None] | None = None) -> None:
        self.boundary = "wsboundary" + secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._parts: list[tuple[IO[bytes], int]] = []
        self._index = 0
        self._sent = 0
        self._progress = progress

    def _add(self, stream: IO[bytes], size: int) -> None:
        self._parts.append((stream, size))

    def _header(self, name: str, filename: str | None, content_type: str | None) -> None:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        lines = [f"--{self.boundary}", f"Content-Disposition: {disposition}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        self._add(io.BytesIO(head), len(head))

    def add_field(self, name: str, value: str) -> None:
        self._header(name, None, None)
        data = value.encode("utf-8") + b"\r\n"
        self._add(io.BytesIO(data), len(data))

    def add_file(self, name: str, filename: str, content_type: str,
                 source: bytes | str | Path) -> None:
        self._header(name, filename, content_type)
        if isinstance(source, bytes):
            stream: IO[bytes] = io.BytesIO(source)
            size = len(source)
        else:
            stream = open(source, "rb")  # noqa: SIM115 - closed by close()
            size = os.fstat(stream.fileno()).st_size
        self._add(stream, size)
        self._add(io.BytesIO(b"\r\n"), 2)

    def _finish(self) -> None:
        if not self._parts or getattr(self, "_finished", False):
            return
        tail = f"--{self.boundary}--\r\n".encode()
        self._add(io.BytesIO(tail), len(tail))
        self._finished = True

    def __len__(self) -> int:
        self._finish()
        return sum(size for _, size in self._parts)

    def read(self, size: int = -1) -> bytes:
        self._finish()
        total = len(self)
        chunks: list[bytes] = []
        want = total if size is None or size < 0 else size
        while want > 0 and self._index < len(self._parts):
            data = self._parts[self._index][0].read(want)
            if not data:
                self._index += 1
                continue
            chunks.append(data)
            want -= len(data)
        out = b"".join(chunks)
        self._sent += len(out)
        if self._progress is not None and out:
            self._progress(self._sent, total)
        return out

    def close(self) -> None:
        for stream, _ in self._parts:
            stream.close()

    def __enter__(self) -> MultipartUpload:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
