"""Client traffic for the fault suite and the soak run: predictions on every component that says
what to send (``components.GeneratesLoad``), a feedback for some of them, every answer recorded, and
every feedback the service acknowledged remembered so it can be checked against the store afterwards
("nothing accepted is ever lost").

Each client is a thread with its own keep-alive connection; ``rate`` paces them (open loop, the
soak run), else they send as fast as answers come (closed loop, the fault suite).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from farga import components


def load_source(name: str) -> components.GeneratesLoad:
    component = components.get(name)
    if not isinstance(component, components.GeneratesLoad):
        raise components.lacking(name, "load generation")
    return component


def sample_request(name: str) -> bytes:
    """One predict body of ``name``'s, as JSON bytes: what a benchmark sends over and over."""
    return json.dumps(load_source(name).load_request(random.Random(0))).encode()  # noqa: S311 - a fixed sample


@dataclass
class Answer:
    at: float  # seconds since the traffic started
    route: str  # "<component>/predict", "<component>/feedback"
    status: int  # 0: no answer (the outcome says why)
    latency_s: float
    outcome: str = "answered"  # or the exception's name: ConnectError (never sent), ReadError, ...


@dataclass
class Traffic:
    """Clients sending to ``url`` until ``stop()``; ``components`` those to exercise (default: every
    installed component that generates load)."""

    url: str
    clients: int = 4
    components: tuple[str, ...] = ()
    feedback_share: float = 0.3
    rate: float | None = None  # requests a second, all clients together (None: as fast as answered)
    timeout_s: float = 30.0
    answers: list[Answer] = field(default_factory=list)
    acknowledged: dict[str, tuple[str, str]] = field(default_factory=dict)  # prediction id -> (component, label)
    predicted: list[tuple[str, str]] = field(default_factory=list)  # (component, prediction id) answered 200

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._start = time.monotonic()
        names = self.components or tuple(components.available())
        self._sources = {name: load_source(name) for name in names}
        self.components = tuple(self._sources)

    def start(self) -> Traffic:
        self._start = time.monotonic()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.clients)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> Traffic:
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout_s + 5)
        return self

    def _send(self, http: httpx.Client, route: str, body: object) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = http.post(f"/v1/{route}", json=body)
        except httpx.HTTPError as exc:
            self._record(Answer(started - self._start, route, 0, time.monotonic() - started, type(exc).__name__))
            time.sleep(0.05)  # the server is away: do not spin
            return None
        self._record(Answer(started - self._start, route, response.status_code, time.monotonic() - started))
        return response

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _client(self, index: int) -> None:
        rng = random.Random(index)  # noqa: S311 - a traffic mix, not a secret
        # the rate counts every request: a prediction is followed by a feedback feedback_share of the time
        interval = self.clients * (1 + self.feedback_share) / self.rate if self.rate else 0.0
        due = time.monotonic() + rng.random() * interval
        with httpx.Client(base_url=self.url, timeout=self.timeout_s) as http:
            while not self._stop.is_set():
                if interval:
                    wait = due - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        return
                    due = max(due + interval, time.monotonic() - interval)  # no catch-up bursts after a stall
                component = rng.choice(self.components)
                source = self._sources[component]
                response = self._send(http, f"{component}/predict", source.load_request(rng))
                if response is None or response.status_code != 200:
                    continue
                answer = response.json()
                with self._lock:
                    self.predicted.append((component, answer["prediction_id"]))
                if rng.random() >= self.feedback_share:
                    continue
                feedback, label = source.load_feedback(answer)
                fb = self._send(http, f"{component}/feedback", feedback)
                if fb is not None and fb.status_code == 200:
                    with self._lock:
                        self.acknowledged[answer["prediction_id"]] = (component, label)

    # --- what happened --------------------------------------------------------------------------

    def statuses(self) -> Counter[str]:
        """Answers by status code, and failures by kind ("ConnectError", ...)."""
        with self._lock:
            return Counter(str(a.status) if a.status else a.outcome for a in self.answers)

    def server_errors(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.status >= 500 and a.status != 503]
