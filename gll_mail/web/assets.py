"""The stylesheet (and any file in ``static/``), served from memory.

The files are tiny and change only with a release, so they are read once per process. Serving
bytes instead of an open file means a client that drops the connection half way leaves no file
handle behind (Werkzeug's development server would leak it), and saves a ``open``/``stat`` per page.
Each file gets a strong ETag: browsers revalidate and get ``304 Not Modified``.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from flask import Flask, Response, abort, request

STATIC = Path(__file__).resolve().parent / "static"


def init_app(app: Flask) -> None:
    files: dict[str, tuple[bytes, str, str]] = {}
    for path in STATIC.iterdir():
        if path.is_file():
            data = path.read_bytes()
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            files[path.name] = (
                data,
                kind + ("; charset=utf-8" if kind.startswith("text/") else ""),
                hashlib.sha256(data).hexdigest()[:20],
            )

    def static(filename: str) -> Response:
        found = files.get(filename)
        if found is None:
            abort(404)
        data, kind, etag = found
        response = Response(data, content_type=kind)
        response.set_etag(etag)
        response.headers["Cache-Control"] = "public, max-age=300"
        return response.make_conditional(request)

    app.add_url_rule("/static/<path:filename>", endpoint="static", view_func=static)
