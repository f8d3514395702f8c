"""One actor against the loop that learns from users, with real processes on 127.0.0.1: `farga serve`,
nginx in front of it where a proxy matters, and `farga ops retrain` / `farga ops review` as an operator runs them.

The actor forges X-Forwarded-For on every request, speaks from many IPv6 addresses of one /64, and
sends as many requests as it likes: it stays one client (one pseudonym, one rate-limit bucket) and
cannot make a class. A flood of one client's wrong labels promotes nothing that regresses; a class
that needs a LaTeX package keeps it through three retrains; another name of a catalogue symbol
trains that symbol.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from api_support import png
from farga.serving.balancer import TEMPLATE, nginx
from farga.serving.process import ServerProcess
from farga.serving.store import FeedbackStore
from support import REPO, dvc_project, tiny_params, tool, venv_env

pytestmark = pytest.mark.e2e
ABUSE: list[dict[str, Any]] = []  # docs/reliability.md's "learning-loop abuse" table (make reliability)
CLASSES = [r"\alpha", r"\beta", r"\leq", r"\rightarrow", r"\sum", r"\infty", r"\pi", r"\int"]
TAUGHT = r"\boxast"  # stmaryrd's: pdflatex refuses it without the package
BURST = 10


def abuse_params() -> dict[str, Any]:
    params = tiny_params()
    sym = params["symbols"]
    sym["data"]["synthetic"].update(symbols=CLASSES, classes=len(CLASSES), samples_per_class=60)
    sym["train"].update(epochs=4)
    # small numbers a test can reach, the same rules: 3 clients, each counting for at most 2 of 6
    sym["feedback"]["new_symbols"] = {"min_drawings": 6, "min_clients": 3, "min_days": 1, "max_client_share": 0.34}
    sym["feedback"]["max_per_client"] = 5
    return params


def record(attack: str, answered: str, learnt: str, **figures: Any) -> None:
    ABUSE.append({"case": attack, "answered": answered, "lost": learnt, "figures": figures})


@pytest.fixture(scope="module", autouse=True)
def abuse_report() -> Iterator[None]:
    """With FARGA_ABUSE_REPORT set to a file, what each attack did is written there (make reliability)."""
    yield
    out = os.environ.get("FARGA_ABUSE_REPORT")
    if out and ABUSE:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(ABUSE, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool("pdflatex", "make system-deps installs TeX Live")
    tool("pdftoppm", "make system-deps installs poppler-utils")
    return dvc_project(tmp_path_factory.mktemp("abuse"), abuse_params(), None, "symbols-register")  # symbols only


@pytest.fixture(scope="module")
def served(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The service trusting only its proxy (127.0.0.1, where nginx runs), its limits on, nginx in front."""
    tool("nginx", "make system-deps (Debian's nginx)")
    env = {
        "FARGA_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "FARGA_RATE_PREDICT_PER_S": "0.5",
        "FARGA_RATE_PREDICT_BURST": str(BURST),
        "FARGA_RATE_FEEDBACK_PER_S": "0.5",
        "FARGA_RATE_FEEDBACK_BURST": str(BURST),
        "FARGA_RELOAD_INTERVAL_S": "1",
        "FARGA_COMPONENTS": "symbols",  # the project trained no other
    }
    server = ServerProcess(project, env=env).start()
    balancer = nginx(REPO / TEMPLATE, tmp_path_factory.mktemp("nginx"), [f"127.0.0.1:{server.port}"]).start()
    # the same store and registry without rate limits: what a flood that is let through does to the model
    unlimited = ServerProcess(project, env={"FARGA_RELOAD_INTERVAL_S": "1", "FARGA_COMPONENTS": "symbols"}).start()
    try:
        yield {"server": server, "nginx": balancer, "open": unlimited, "root": project}
    finally:
        for process in (balancer, server, unlimited):
            process.stop()


def client_from(address: str, url: str) -> httpx.Client:
    """A client whose connections leave from ``address`` (any of 127.0.0.0/8 is this machine)."""
    return httpx.Client(base_url=url, timeout=10, transport=httpx.HTTPTransport(local_address=address))


def glyph_drawings(latex: str, package: str | None, n: int, seed: int) -> list[bytes]:
    """Drawings of a command as TeX renders it, distorted as the synthetic writers draw (PNG uploads)."""
    from farga.symbols.aliases import render
    from farga.symbols.synthetic import GLYPH_PX, distort

    [ink] = render([(latex, package, "math")]) or pytest.fail(f"TeX did not render {latex}")
    h, w = ink.shape
    scale = GLYPH_PX * 0.7 / max(h, w)
    small = Image.fromarray(ink.astype(np.uint8) * 255).resize((max(1, round(w * scale)), max(1, round(h * scale))))
    glyph = np.zeros((GLYPH_PX, GLYPH_PX), dtype=np.float32)
    top, left = (GLYPH_PX - small.height) // 2, (GLYPH_PX - small.width) // 2
    glyph[top : top + small.height, left : left + small.width] = np.asarray(small, dtype=np.float32) / 255
    rng = np.random.default_rng(seed)
    return [png(255 - distort(glyph, rng, s)) for s in rng.uniform(0.6, 1.4, size=n)]


def predict(http: httpx.Client, image: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.post("/v1/symbols/predict", files={"image": ("d.png", image, "image/png")}, headers=headers)


def teach(
    http: httpx.Client, image: bytes, latex: str, headers: dict[str, str] | None = None, package: str | None = None
) -> tuple[int, int]:
    """Predict, then give ``latex`` as the answer: the two statuses."""
    answer = predict(http, image, headers)
    if answer.status_code != 200:
        return answer.status_code, 0
    body = {"prediction_id": answer.json()["prediction_id"], "latex": latex} | ({"package": package} if package else {})
    return 200, http.post("/v1/symbols/feedback", json=body, headers=headers).status_code


def senders(store: FeedbackStore, label: str) -> set[str | None]:
    return {p.feedback_client for p in store.labelled("symbols") if p.feedback_label == label}


def farga(root: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["farga", *args], cwd=root, env=venv_env({"FARGA_ROOT": str(root)}), capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    assert (done.returncode == 0) == ok, done.stderr[-3000:]
    return done


def test_forged_forwarded_for_behind_nginx_is_one_client_one_bucket_and_teaches_nothing(served: dict[str, Any]):
    root, proxy = served["root"], served["nginx"].url
    store = FeedbackStore(f"sqlite:///{root / 'feedback.db'}")
    statuses: Counter[int] = Counter()
    drawings = glyph_drawings(r"\heartsuit", None, 40, seed=1)
    with client_from("127.0.0.2", proxy) as actor:
        for i, image in enumerate(drawings):  # a new forged chain each time: v4, v6, garbage, the proxy's own
            forged = {"X-Forwarded-For": f"198.51.{i}.7, 2001:db8:{i:x}::1, not-an-ip, 127.0.0.1"}
            predicted, fed = teach(actor, image, r"\spadesuit", forged)
            statuses.update([predicted] + ([fed] if fed else []))
    assert not [s for s in statuses if s >= 500], statuses
    # one bucket: the burst, then about one image (cost 2) every 4 s; never 40
    assert statuses[429] >= 20, statuses
    assert len(senders(store, r"\spadesuit")) == 1  # one pseudonym
    with client_from("127.0.0.3", proxy) as neighbour:  # another person is not in the actor's bucket
        assert predict(neighbour, drawings[0]).status_code == 200
    exported = json.loads(
        farga(root, "feedback", "export", "symbols", "--out", "data/feedback/symbols/feedback.tar", "--all").stdout
    )
    lacks = exported["waiting_symbols"][r"\spadesuit"]
    assert "1 of 3 distinct clients" in lacks
    refused = farga(root, "ops", "review", "symbols", "--approve", r"\spadesuit", ok=False)
    assert "cannot be approved yet" in refused.stderr
    record(
        "one actor behind nginx, a forged X-Forwarded-For chain on each of 40 predictions and their feedback",
        ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items())) + "; one pseudonym, one rate-limit bucket "
        "(a neighbour on another address answered 200)",
        f"nothing: {lacks}; approval refused",
        statuses=dict(statuses),
    )


def test_forged_headers_sent_straight_to_the_service_are_not_believed(served: dict[str, Any]):
    server, root = served["server"], served["root"]
    store = FeedbackStore(f"sqlite:///{root / 'feedback.db'}")
    with client_from("127.0.0.4", server.url) as actor:  # not the trusted proxy: its X-Forwarded-For is no one's
        for i, image in enumerate(glyph_drawings(r"\heartsuit", None, 6, seed=2)):
            assert teach(actor, image, r"\clubsuitx", {"X-Forwarded-For": f"203.0.113.{i}"}) == (200, 200)
    assert len(senders(store, r"\clubsuitx")) == 1
    record(
        "X-Forwarded-For sent straight to the service by a client that is not its proxy (6 forged addresses)",
        "6 x 200; the header ignored: 1 pseudonym, the connection's own address",
        "nothing",
    )


def test_many_ipv6_addresses_of_one_64_are_one_client(served: dict[str, Any]):
    root, proxy = served["root"], served["server"].url
    store = FeedbackStore(f"sqlite:///{root / 'feedback.db'}")
    with httpx.Client(base_url=proxy, timeout=10) as trusted:  # 127.0.0.1: the proxy, forwarding for them
        for i, image in enumerate(glyph_drawings(r"\heartsuit", None, 8, seed=3)):
            v6 = f"2001:db8:5:{6 if i < 6 else 7}:{i:x}:{i:x}::{i + 1:x}"
            assert teach(trusted, image, r"\diamondsuitx", {"X-Forwarded-For": v6}) == (200, 200)
    assert len(senders(store, r"\diamondsuitx")) == 2  # six addresses of one /64, two of another
    record(
        "8 IPv6 addresses through the trusted proxy: 6 in one /64, 2 in another",
        "8 x 200; 2 pseudonyms (one per /64)",
        "nothing",
    )


def recognised(url: str, drawings: list[bytes], latex: str) -> float:
    """The share of ``drawings`` the served champion answers ``latex`` for (each from its own address)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        answers = [predict(http, d, {"X-Forwarded-For": f"192.0.2.{200 + i}"}).json() for i, d in enumerate(drawings)]
    return float(np.mean([a["candidates"][0]["latex"] == latex for a in answers]))


def test_flipped_labels_promote_nothing_that_regresses_a_learnt_package_stays_and_an_alias_is_its_symbol(
    served: dict[str, Any],
):
    """Three retrains (one `farga ops retrain` each): the first after a flood of one client's flipped labels,
    a command that needs a package approved and another name of a catalogue symbol; the next two after
    later feedback on the learnt command, which the API stores with no package."""
    root, url = served["root"], served["open"].url
    alphas = glyph_drawings(r"\alpha", None, 150, seed=4)
    taught = glyph_drawings(TAUGHT, "stmaryrd", 18, seed=5)
    before = recognised(url, alphas[120:], r"\alpha")
    with httpx.Client(base_url=url, timeout=10) as trusted:  # the proxy, forwarding for each person
        flood = Counter(teach(trusted, d, r"\beta", {"X-Forwarded-For": "198.51.100.66"}) for d in alphas[:120])
        for i, image in enumerate(taught[:6]):  # three people, two drawings each, naming the package
            assert teach(trusted, image, TAUGHT, {"X-Forwarded-For": f"192.0.2.{i % 3 + 1}"}, "stmaryrd") == (200, 200)
        for i, image in enumerate(glyph_drawings(r"\leq", None, 6, seed=6)):  # \le: the catalogue's \leq
            assert teach(trusted, image, r"\le", {"X-Forwarded-For": f"192.0.2.{i % 3 + 10}"}) == (200, 200)
    assert flood == {(200, 200): 120}
    approved = json.loads(farga(root, "ops", "review", "symbols", "--approve", TAUGHT, "--by", "reviewer").stdout)
    assert approved["package"] == "stmaryrd"
    kept: list[int] = []
    for round_ in range(3):
        if round_:
            with httpx.Client(base_url=url, timeout=10) as trusted:
                for i, image in enumerate(taught[6 * round_ : 6 * round_ + 6]):
                    assert teach(trusted, image, TAUGHT, {"X-Forwarded-For": f"192.0.2.{20 * round_ + i}"}) == (
                        200,
                        200,
                    )
        result = json.loads(farga(root, "ops", "retrain", "symbols", "--force").stdout)
        assert result["retrained"], result
        labels = json.loads((root / "models" / "symbols" / "labels.json").read_text())
        learnt = [c for c in labels if c["latex"] == TAUGHT]
        assert [(c["package"], c["origin"]) for c in learnt] == [("stmaryrd", "users")], (round_, learnt)
        kept.append(learnt[0]["symbol_id"])
        if round_ == 0:
            first, feedback = result, read_feedback(root)
    assert kept == [kept[0]] * 3

    # the flood: capped, and the gate let nothing through that regresses
    assert not first["promoted"] or not first["decision"]["slice_regressions"], first
    assert (feedback.latex == r"\beta").sum() <= 5  # max_per_client, whatever screening let through
    after = recognised(url, alphas[120:], r"\alpha")
    assert after >= before - 0.1
    # the alias: trained as the catalogue's symbol, and no longer waiting for a person
    assert r"\le" not in set(feedback.latex)
    assert (feedback.latex == r"\leq").sum() >= 4  # (screening may doubt a drawing or two)
    assert r"\le" not in farga(root, "ops", "review", "symbols", "--sheets", str(root / "sheets")).stdout
    decision, leq_trained = first.get("decision") or {}, int((feedback.latex == r"\leq").sum())
    record(
        "one client floods 120 drawings of \\alpha labelled \\beta, then `farga ops retrain`",
        f"120 x 200; {first['quarantined']} quarantined by screening; at most 5 of that client's \\beta "
        f"drawings trained (max_per_client); challenger {'promoted' if first['promoted'] else 'not promoted'}, "
        f"slice regressions: {', '.join(decision.get('slice_regressions') or []) or 'none'}",
        f"\\alpha recognised on {before:.0%} of fresh drawings before, {after:.0%} after",
        quarantined=first["quarantined"],
        promoted=bool(first["promoted"]),
        alpha_before=before,
        alpha_after=after,
    )
    record(
        f"a class that needs a package ({TAUGHT}, stmaryrd) approved, then 3 retrains with later feedback "
        "that names no package; 6 drawings labelled \\le",
        f"{TAUGHT} in all 3 retrained models with stmaryrd and id {kept[0]}; \\le recorded as the alias "
        f"of \\leq (TeX renders them alike) and {leq_trained} of its drawings "
        "trained as \\leq",
        "nothing lost: the package and id kept; no second class for \\leq",
    )


def read_feedback(root: Path) -> Any:
    from farga.symbols.archive import read_archive

    return read_archive(root / "data" / "feedback" / "symbols" / "feedback.tar", progress=False).labels
