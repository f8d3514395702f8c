"""The README's curl examples work as written, and the answers it shows have the shape the API gives."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from tests.support import REPO

from farga.dev.report import BLOCK

pytestmark = pytest.mark.api


def examples() -> dict[str, tuple[str, dict, dict]]:
    """component -> (path, request body, the answer shown) from the README's example blocks."""
    found = {}
    for block in BLOCK.finditer((REPO / "README.md").read_text(encoding="utf-8")):
        if block["kind"] != "example":
            continue
        body = block["body"]
        path = re.search(r"localhost:8000(\S+)", body)
        sent = re.search(r"-d '(.+?)'\n", body)
        shown = re.search(r"```json\n(.+?)\n```", body, re.S)
        assert path, f"the {block['name']} example names no URL"
        assert sent, f"the {block['name']} example sends no body"
        assert shown, f"the {block['name']} example shows no answer"
        found[block["name"]] = (path[1], json.loads(sent[1]), json.loads(shown[1]))
    return found


def shape(value: object) -> object:
    """Keys all the way down (lists by their first item): what must match, whatever the model answered."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if value is not None else None


def test_every_component_has_an_example():
    assert set(examples()) == {"symbols", "fillmask"}


@pytest.mark.parametrize("component", ["symbols", "fillmask"])
def test_the_readme_example_gets_the_answer_it_shows(client: TestClient, component: str):
    path, sent, shown = examples()[component]
    answer = client.post(path, json=sent)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert shape(got) == shape(shown)
    assert len(got.get("candidates", got.get("masks", []))) == len(shown.get("candidates", shown.get("masks", [])))
