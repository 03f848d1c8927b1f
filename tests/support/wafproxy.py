"""A proxy in front of the dev wiki that answers like a web application firewall, or slowly (end-to-end tests of
a wiki that answers garbage or takes its time)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

WAF_PAGE = "<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body>Request blocked.</body></html>"
# Response headers the proxy does not copy: it sends the body it read, whole and decoded.
HOP_BY_HOP = {"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive"}


class WafProxy:
    """Forwards every request to the dev wiki's ``api.php``. While ``blocking``, answers the editor's calls
    (``meta=userinfo``: who is this cookie, may they use this page) with HTML 403 instead, as a web application
    firewall or a rate limiter would; ``delay_s`` holds every request that long first (a slow wiki). Runs in
    its own threads: the server under test starts synchronously through it."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.blocking = False
        self.blocked = 0
        self.delay_s = 0.0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self.forward()

            def do_POST(self) -> None:
                self.forward()

            def forward(self) -> None:
                query = urlsplit(self.path).query
                time.sleep(proxy.delay_s)
                if proxy.blocking and parse_qs(query).get("meta") == ["userinfo"]:
                    proxy.blocked += 1
                    self.answer(403, [("Content-Type", "text/html")], WAF_PAGE.encode())
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                keep = ("cookie", "content-type", "user-agent")
                headers = {k: v for k, v in self.headers.items() if k.lower() in keep}
                url = proxy.api_url + ("?" + query if query else "")
                answer = requests.request(
                    self.command, url, data=body or None, headers=headers, allow_redirects=False, timeout=60
                )
                kept = [(k, v) for k, v in answer.raw.headers.items() if k.lower() not in HOP_BY_HOP]
                self.answer(answer.status_code, kept, answer.content)

            def answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api.php"
        self._thread = threading.Thread(target=self._server.serve_forever, name="waf proxy", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
