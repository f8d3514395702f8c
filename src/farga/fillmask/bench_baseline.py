"""The naive baseline of fillmask's serving benchmark: the same network served the way tutorials do it.

A plain FastAPI endpoint takes the sentence, splits it and tokenises each word with the model's own
tokenizer per request, runs the trained network (``network.pt``, the weights the ONNX graph was
exported from) in PyTorch eager mode on its default threads, and answers each mask's top-k words
over the words the model may predict. No trigram, no logging, no limits, one process.

Run: ``FARGA_BASELINE_MODEL=models/fillmask uvicorn farga.fillmask.bench_baseline:app``
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from fastapi import FastAPI
from pydantic import BaseModel

from farga.fillmask.model import NETWORK_FILE, FillMaskModel, load_network
from farga.fillmask.text import MASK, split
from farga.fillmask.vocab import TOKENIZER_FILE, WORDS_FILE, SubwordCache, WordVocab
from farga.onnx_runtime import model_file


@dataclass
class Baseline:
    network: FillMaskModel
    tokens: SubwordCache
    vocab: WordVocab

    @classmethod
    def load(cls, model_dir: Path) -> Baseline:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(model_file(model_dir, TOKENIZER_FILE)))
        vocab = WordVocab.load(model_file(model_dir, WORDS_FILE).parent)
        # grow=False and never warmed: every word is tokenised per request
        return cls(load_network(model_file(model_dir, NETWORK_FILE)), SubwordCache(tokenizer, grow=False), vocab)

    def predict(self, text: str, top_k: int) -> list[list[tuple[str, float]]]:
        """Each mask's top-k (word, probability), best first."""
        ids: list[int] = []
        positions = []
        for word in split(text):
            if word == MASK:
                positions.append(len(ids))
            ids.extend(self.tokens(word))
        with torch.no_grad():
            log_probs = self.network(torch.tensor([ids]), torch.tensor([positions]))[0]
        allowed = torch.from_numpy(self.vocab.predictable)
        probs = torch.softmax(log_probs.masked_fill(~allowed, -torch.inf), dim=-1)
        top = probs.topk(top_k, dim=-1)
        return [
            [(self.vocab.display[int(i)], float(p)) for p, i in zip(values, indices, strict=True)]
            for values, indices in zip(top.values, top.indices, strict=True)
        ]


class Body(BaseModel):
    text: str
    top_k: int = 5


app = FastAPI(title="naive fillmask baseline")
MODEL: Baseline | None = None


@app.on_event("startup")
def load() -> None:
    global MODEL
    MODEL = Baseline.load(Path(os.environ["FARGA_BASELINE_MODEL"]))


@app.get("/health")
def health() -> dict[str, bool]:
    return {"ok": MODEL is not None}


@app.post("/predict")
def predict(body: Body) -> dict[str, list[dict[str, list[dict[str, float | str]]]]]:
    assert MODEL is not None
    masks = MODEL.predict(body.text, body.top_k)
    return {"masks": [{"candidates": [{"token": w, "score": s} for w, s in mask]} for mask in masks]}
