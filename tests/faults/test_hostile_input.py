"""A hostile-input battery against a real server: every endpoint, malformed, oversized (declared and
chunked), deeply nested, wrongly typed, non-UTF-8 and surrogate-bearing input. Not one 5xx; every
error in the one shape; the server ready afterwards."""

from __future__ import annotations

import io
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from faults_support import record
from PIL import Image

from api_support import ADMIN_KEY, CROSS
from farga.serving.process import ServerProcess

pytestmark = pytest.mark.faults

JSON_ROUTES = {
    "/v1/symbols/predict": CROSS,
    "/v1/symbols/feedback": {"prediction_id": "0" * 32, "latex": r"\alpha"},
    "/v1/fillmask/predict": {"text": "La <mask> és gran."},
    "/v1/fillmask/feedback": {"prediction_id": "0" * 32, "words": ["casa"]},
}
MIB = 1 << 20


@dataclass
class Case:
    name: str
    method: str
    path: str
    expect: set[int]
    content: bytes | Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None
    data: dict[str, str] | None = None
    ours: bool = True  # answered by the app (its error shape), not by the HTTP parser in front of it
    raw: bytes | None = None  # sent as is over a socket: what an HTTP client library refuses to send


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    yield b'{"text": "'
    while sent < total:
        yield b"a" * size
        sent += size
    yield b'"}'


def image(fmt: str, side: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((side, side), 255, np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def battery() -> list[Case]:
    js = {"content-type": "application/json"}
    cases: list[Case] = []
    for path in JSON_ROUTES:
        route = path.removeprefix("/v1/")
        deep = b"[" * 100_000 + b"]" * 100_000
        nested = b'{"a":' * 20 + b"1" + b"}" * 20
        cases += [
            Case(f"{route}: empty body", "POST", path, {400}, b"", js),
            Case(f"{route}: broken JSON", "POST", path, {400}, b"{not json", js),
            Case(f"{route}: not UTF-8", "POST", path, {400}, b'{"text": "\xff\xfe<mask>"}', js),
            Case(f"{route}: UTF-16 body", "POST", path, {400}, '{"text": "<mask>"}'.encode("utf-16"), js),
            Case(f"{route}: lone surrogate", "POST", path, {400}, b'{"text": "\\ud800 <mask>", "x": "\\udfff"}', js),
            Case(f"{route}: surrogate in a key", "POST", path, {400}, b'{"\\ud800": 1}', js),
            Case(f"{route}: nested 100,000 deep", "POST", path, {400}, deep, js),
            Case(f"{route}: nested 20 deep", "POST", path, {400}, nested, js),
            Case(f"{route}: NaN", "POST", path, {400}, b'{"top_k": NaN}', js),
            Case(f"{route}: 1e999 (infinite)", "POST", path, {422}, b'{"top_k": 1e999, "x": 1e999}', js),
            Case(f"{route}: a list, not an object", "POST", path, {422}, b"[1, 2, 3]", js),
            Case(f"{route}: null", "POST", path, {422}, b"null", js),
            Case(f"{route}: a string", "POST", path, {422}, b'"<mask>"', js),
            Case(f"{route}: wrong content type", "POST", path, {415}, b"text=<mask>", {"content-type": "text/plain"}),
            Case(f"{route}: no content type", "POST", path, {415}, b'{"text": "<mask>"}'),
            Case(f"{route}: 2 MiB declared", "POST", path, {413}, b"{" + b" " * (2 * MIB) + b"}", js),
            Case(f"{route}: 2 MiB chunked", "POST", path, {413}, chunks(2 * MIB), js),
            Case(f"{route}: Content-Length not a number", "POST", path, {400}, ours=False,
                 raw=f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: ab\r\n\r\n{}".encode()),
            Case(f"{route}: Content-Length and chunked both", "POST", path, {400, 413, 422}, ours=False,
                 raw=f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".encode()),
            Case(f"{route}: GET instead of POST", "GET", path, {405}),
        ]  # fmt: skip
    fm, sym = "/v1/fillmask", "/v1/symbols"
    png, gif = ("a.png", image("PNG"), "image/png"), ("a.gif", image("GIF"), "image/gif")
    recent = f"{time.time_ns() // 1_000_000:012x}" + "ab" * 10
    cases += [
        Case("fillmask: <MASK> x6 + <mask> (case walk-around)", "POST", f"{fm}/predict", {422},
             ("{" + '"text": "' + "<MASK> " * 6 + '<mask>"}').encode(), js),
        Case("fillmask: <Mask> x6", "POST", f"{fm}/predict", {422}, b'{"text": "' + b"<Mask> " * 6 + b'"}', js),
        Case("fillmask: 1,000 words", "POST", f"{fm}/predict", {422}, b'{"text": "' + b"x " * 499 + b'<mask>"}', js),
        Case("fillmask: top_k as a string", "POST", f"{fm}/predict", {422}, b'{"text": "<mask>", "top_k": "5"}', js),
        Case("fillmask: control characters", "POST", f"{fm}/predict", {200},
             b'{"text": "\\u0001 <mask> \\u001f"}', js),
        Case("fillmask: NUL in the text", "POST", f"{fm}/predict", {422}, b'{"text": "\\u0000 <mask>"}', js),
        Case("fillmask: feedback word with a surrogate", "POST", f"{fm}/feedback", {400},
             b'{"prediction_id": "' + b"0" * 32 + b'", "words": ["\\ud800"]}', js),
        Case("fillmask: feedback for a forged, current-time id", "POST", f"{fm}/feedback", {404},
             f'{{"prediction_id": "{recent}", "words": ["casa"]}}'.encode(), js),
        Case("fillmask: feedback of 200 words", "POST", f"{fm}/feedback", {422},
             b'{"prediction_id": "' + b"0" * 32 + b'", "words": [' + b'"a",' * 199 + b'"a"]}', js),
        Case("symbols: feedback for a forged, current-time id", "POST", f"{sym}/feedback", {404},
             f'{{"prediction_id": "{recent}", "latex": "\\\\alpha"}}'.encode(), js),
        Case("symbols: feedback, text that is no LaTeX command", "POST", f"{sym}/feedback", {422},
             b'{"prediction_id": "' + b"0" * 32 + b'", "latex": "\\\\input{x} \\\\def"}', js),
        Case("symbols: feedback, a new command for an unknown id", "POST", f"{sym}/feedback", {404},
             b'{"prediction_id": "' + b"0" * 32 + b'", "latex": "\\\\notacommand", "package": "amssymb"}', js),
        Case("symbols: feedback, id not hex", "POST", f"{sym}/feedback", {422},
             b'{"prediction_id": "' + b"z" * 32 + b'", "latex": "x"}', js),
        Case("symbols: 10,000 points", "POST", f"{sym}/predict", {422},
             b'{"strokes": [[' + b'{"x": 1, "y": 1},' * 9999 + b'{"x": 1, "y": 1}]]}', js),
        Case("symbols: 1e308 coordinates", "POST", f"{sym}/predict", {400},
             b'{"strokes": [[{"x": 1e308, "y": 1}, {"x": -1e308, "y": 1}]]}', js),
        Case("symbols: booleans as coordinates", "POST", f"{sym}/predict", {422},
             b'{"strokes": [[{"x": true, "y": false}]]}', js),
        Case("symbols: multipart, no boundary", "POST", f"{sym}/predict", {400, 422}, b"garbage",
             {"content-type": "multipart/form-data"}),
        Case("symbols: multipart, broken parts", "POST", f"{sym}/predict", {400, 422}, b"--x\r\nnot a part\r\n--x--",
             {"content-type": "multipart/form-data; boundary=x"}),
        Case("symbols: image is text", "POST", f"{sym}/predict", {400}, files={"image": ("a.png", b"hi", "image/png")}),
        Case("symbols: image is GIF", "POST", f"{sym}/predict", {400}, files={"image": gif}),
        Case("symbols: image 2000x2000", "POST", f"{sym}/predict", {400, 413},
             files={"image": ("a.png", image("PNG", 2000), "image/png")}),
        Case("symbols: image truncated", "POST", f"{sym}/predict", {400},
             files={"image": ("a.png", image("PNG")[:60], "image/png")}),
        Case("symbols: image blank", "POST", f"{sym}/predict", {400}, files={"image": png}),
        Case("symbols: top_k in the form not a number", "POST", f"{sym}/predict", {422},
             files={"image": png}, data={"top_k": "five"}),
        Case("symbols: top_k in the form not UTF-8", "POST", f"{sym}/predict", {400, 422},
             b'--x\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n\xff\xfe\r\n--x--\r\n',
             {"content-type": "multipart/form-data; boundary=x"}),
        Case("admin: no key", "POST", "/v1/admin/reload/symbols", {401}),
        Case("admin: wrong key", "POST", "/v1/admin/reload/symbols", {401}, headers={"x-api-key": "guess"}),
        Case("admin: key of the right length", "POST", "/v1/admin/reload/symbols", {401},
             headers={"x-api-key": "x" * len(ADMIN_KEY)}),
        Case("admin: unknown component", "POST", "/v1/admin/reload/..%2f..%2fetc", {401, 404},
             headers={"x-api-key": ADMIN_KEY}),
        Case("unknown path", "GET", "/v1/nothing/here", {404}),
        Case("path traversal into static", "GET", "/static/app/../../../../etc/passwd", {404}),
        Case("encoded traversal into static", "GET", "/static/app/..%2f..%2fsettings.py", {404}),
        Case("PUT on predict", "PUT", f"{fm}/predict", {405}),
        Case("readyz with a garbage query", "GET", "/readyz?%ff%fe=%00&&&=", {200, 400}, ours=False),
        Case("a 64 KiB header", "GET", "/healthz", {200, 400, 431}, headers={"x-junk": "a" * 65536}, ours=False),
    ]  # fmt: skip
    return cases


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, served: Path) -> Iterator[ServerProcess]:
    """The battery against each store: SQLite (the default) and a PostgreSQL of the test's own."""
    env = {"FARGA_API_KEY": ADMIN_KEY, "FARGA_BODY_TIMEOUT_S": "1"}
    if request.param == "postgresql":
        env["FARGA_DATABASE_URL"] = request.getfixturevalue("own_postgres").url
    srv = ServerProcess(served, env=env).start()
    try:
        yield srv
    finally:
        srv.stop()


def raw_status(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return int(sock.recv(4096).split(b" ")[1])


def send(http: httpx.Client, case: Case) -> httpx.Response:
    if case.files is not None:
        return http.request(case.method, case.path, files=case.files, data=case.data)
    return http.request(case.method, case.path, content=case.content, headers=case.headers)


def slow_body(port: int, path: str) -> int:
    """A body that never finishes arriving (slowloris): the status line the server answers with."""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    return raw_status(port, head.encode() + b'{"text": ')


def stored_text_cases(http: httpx.Client) -> list[Case]:
    """Feedback on real predictions carrying what PostgreSQL refuses to store (NUL): these reach the
    store unless the API refuses them first."""
    js = {"content-type": "application/json"}
    fm = http.post("/v1/fillmask/predict", json={"text": "La <mask> és gran."}).json()["prediction_id"]
    sym = http.post("/v1/symbols/predict", json=CROSS).json()["prediction_id"]
    return [
        Case("fillmask: feedback word with NUL", "POST", "/v1/fillmask/feedback", {422},
             f'{{"prediction_id": "{fm}", "words": ["ca\\u0000sa"]}}'.encode(), js),
        Case("symbols: feedback command with NUL", "POST", "/v1/symbols/feedback", {422},
             f'{{"prediction_id": "{sym}", "latex": "\\\\spadesuit\\u0000"}}'.encode(), js),
        Case("symbols: feedback package with NUL", "POST", "/v1/symbols/feedback", {422},
             f'{{"prediction_id": "{sym}", "latex": "\\\\spadesuit", "package": "ams\\u0000symb"}}'.encode(), js),
    ]  # fmt: skip


def test_every_endpoint_answers_hostile_input_with_a_4xx_and_stays_ready(
    server: ServerProcess, request: pytest.FixtureRequest
):
    store = request.node.callspec.params["server"]
    wrong, statuses, slowest = [], Counter[int](), 0.0
    with httpx.Client(base_url=server.url, timeout=30) as http:
        cases = battery() + stored_text_cases(http)
        assert len(cases) >= 60
        for case in cases:
            if case.raw is not None:
                status = raw_status(server.port, case.raw)
                statuses[status] += 1
                if status not in case.expect:
                    wrong.append(f"{case.name}: {status}")
                continue
            started = time.monotonic()
            response = send(http, case)
            took = time.monotonic() - started
            statuses[response.status_code] += 1
            if "forged" in case.name:
                slowest = max(slowest, took)
            if response.status_code not in case.expect:
                wrong.append(f"{case.name}: {response.status_code} {response.text[:200]}")
            elif case.ours and response.status_code >= 400:
                body = response.json()
                if not isinstance(body.get("detail"), str) or not body["detail"]:
                    wrong.append(f"{case.name}: error body without a detail line: {body}")
    for path in JSON_ROUTES:
        status = slow_body(server.port, path)
        statuses[status] += 1
        if status != 408:
            wrong.append(f"{path}: a body that never arrives got {status}, not 408")
    assert wrong == []
    assert not [s for s in statuses if s >= 500]
    assert slowest < 1.5  # a forged id is refused in about a second, holding no thread meanwhile
    assert server.ready()
    assert "Traceback" not in server.log_tail(200_000)
    record(
        f"hostile-input battery on {store} ({len(cases) + len(JSON_ROUTES)} cases over every endpoint)",
        ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items())) + "; ready afterwards",
        "nothing (no 5xx, no traceback)",
        cases=len(cases) + len(JSON_ROUTES),
        statuses=dict(statuses),
        forged_id_seconds=round(slowest, 2),
    )
