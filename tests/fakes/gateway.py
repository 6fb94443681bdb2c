"""A tiny loopback reverse proxy standing in for the nginx gateway in browser tests: one origin,
each request forwarded to the service that owns its path (``services.gateway.owner_of``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry
from werkzeug.serving import BaseWSGIServer, make_server

from services.gateway import owner_of

# Hop-by-hop headers, and what requests recomputes itself.
DROP_REQUEST = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length", "host"}
)
DROP_RESPONSE = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}
)


class Gateway:
    def __init__(self, upstreams: Mapping[str, str]) -> None:
        self.upstreams = dict(upstreams)
        self.http = requests.Session()
        # As nginx does (proxy_next_upstream error), a GET whose kept-alive upstream connection
        # the upstream closed just then is sent again on a new one; anything else is not.
        retry = Retry(total=2, allowed_methods=frozenset({"GET", "HEAD"}), status_forcelist=())
        self.http.mount("http://", HTTPAdapter(max_retries=retry))
        self.server: BaseWSGIServer | None = None
        self.thread: threading.Thread | None = None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        query = environ.get("QUERY_STRING", "")
        url = self.upstreams[owner_of(path)] + path + (f"?{query}" if query else "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in DROP_REQUEST
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        host = environ.get("HTTP_HOST", "")
        headers["Host"] = host
        headers["X-Forwarded-Host"] = host
        headers["X-Forwarded-Proto"] = "http"
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        peer = environ.get("REMOTE_ADDR", "127.0.0.1")
        headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
        upstream = self.http.request(
            environ["REQUEST_METHOD"],
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            stream=False,
            timeout=30,
        )
        raw_headers = upstream.raw.headers
        out = [
            (name, value)
            for name, value in raw_headers.items()
            if name.lower() not in DROP_RESPONSE and name.lower() != "set-cookie"
        ]
        out += [("Set-Cookie", value) for value in raw_headers.getlist("Set-Cookie")]
        out.append(("Content-Length", str(len(upstream.content))))
        start_response(f"{upstream.status_code} {upstream.reason}", out)
        return [upstream.content]

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.server = make_server(host, port, self, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://{host}:{self.server.server_port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
