"""Would a memory of the training text close fillmask's gap? A study of kNN-LM (Khandelwal et al.,
2020, "Generalization through memorization") over the trained network; not a pipeline step.

The trigram beats the network on rare words because it keeps a context from one occurrence. kNN-LM
keeps every occurrence: a datastore of the network's head state for each word of the training split
(the key) and that word (the value). A masked word's state then also finds its k nearest training
states, p_knn(w) ∝ sum of exp(-d_i / T) over the neighbours i whose word is w, mixed with the
network's distribution, p = (1 - λ) p_net + λ p_knn, before the served log-linear mixture with the
trigram. λ, T and the trigram weight are chosen on dev words; the choice is scored on the
evaluation's validation words, beside the served predictor without the memory.

Run from a checkout whose fillmask pipeline has run (models/fillmask with network.pt,
data/prepared/fillmask):

    .venv/bin/python tools/fillmask_knn_study.py [--k 64] [--fraction 1.0] [--dev-words 4]

Scores are computed over candidate words (each model's best 50 and every neighbour's word), which is
where a top 5 comes from; the transformer and trigram rows reproduce the evaluation's figures,
which checks that.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from farga import components
from farga.config import Settings
from farga.fillmask.evaluate import dev_examples, split_examples
from farga.fillmask.fit import example_batch
from farga.fillmask.model import NETWORK_FILE, FillMaskModel, load_network
from farga.fillmask.predictor import Predictor
from farga.fillmask.prepare import load_split
from farga.fillmask.scoring import Example, top_k
from farga.fillmask.windows import Window, batches, length_groups, windows
from farga.precision import resolve_precision

CANDIDATES = 50  # per model
LAMBDAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
TEMPERATURES = (0.05, 0.1, 0.2, 0.5, 1.0)  # times the dev words' median distance to their nearest key
WEIGHTS = tuple(round(w, 1) for w in np.linspace(0, 0.8, 9))  # the trigram's, as train.NGRAM_WEIGHTS


@torch.no_grad()
def datastore(network: FillMaskModel, data: list[Window], bf16: bool) -> tuple[torch.Tensor, np.ndarray]:
    """(keys, values): the head state (float16) and word id of every maskable word of ``data``,
    each predicted from its whole window as in training."""
    n = sum(len(w.maskable) for w in data)
    keys = torch.empty((n, network.cfg.dim), dtype=torch.float16)
    values = np.empty(n, dtype=np.int64)
    at = 0
    every_word = batches(data, 8192, 0.0, np.random.default_rng(0), predict_fraction=1.0)  # unmasked, all predicted
    n_batches = len(length_groups(data, 8192, np.random.default_rng(0)))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for ids, starts, ends, targets, _ in tqdm(every_word, total=n_batches, desc="datastore", unit="batch"):
            keep = targets != -100
            states = network.word_states(ids, starts, ends)[keep].float()
            keys[at : at + len(states)] = states.half()
            values[at : at + len(states)] = targets[keep].numpy()
            at += len(states)
    return keys, values


@torch.no_grad()
def queries(network: FillMaskModel, predictor: Predictor, items: list[Example], bf16: bool) -> torch.Tensor:
    """The head state of each example's masked word, read as the served predictor reads it."""
    out = []
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(items), 256):
            ids, positions = example_batch(items[start : start + 256], predictor.cache, network.cfg)
            out.append(network.word_states(ids, positions, positions + 1)[:, 0].float())
    return torch.cat(out)


@torch.no_grad()
def neighbours(q: torch.Tensor, keys: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Squared L2 distances and indices of each query's ``k`` nearest keys, nearest first (exact search)."""
    best_d = torch.full((len(q), k), torch.inf)
    best_i = torch.zeros((len(q), k), dtype=torch.long)
    q_norm = (q * q).sum(1, keepdim=True)
    block = 131072
    for start in tqdm(range(0, len(keys), block), desc="nearest keys", unit="block"):
        kb = keys[start : start + block].float()
        k_norm = (kb * kb).sum(1)[None]
        for s in range(0, len(q), 1024):
            d = q_norm[s : s + 1024] - 2 * q[s : s + 1024] @ kb.T + k_norm
            near = torch.topk(d, min(k, d.shape[1]), dim=1, largest=False)
            both_d = torch.cat([best_d[s : s + 1024], near.values], dim=1)
            both_i = torch.cat([best_i[s : s + 1024], near.indices + start], dim=1)
            keep = torch.topk(both_d, k, dim=1, largest=False)
            best_d[s : s + 1024], best_i[s : s + 1024] = keep.values, torch.gather(both_i, 1, keep.indices)
    return best_d.clamp(min=0).numpy(), best_i.numpy()


def candidates(predictor: Predictor, items: list[Example], near_words: np.ndarray, label: str) -> dict[str, np.ndarray]:
    """Per example: candidate word ids (-1: a slot left empty), their log-probabilities under the
    network and the trigram, and which candidate is the hidden word."""
    targets = predictor.vocab.ids([ex.target for ex in items])
    parts: dict[str, list[np.ndarray]] = {"cand": [], "net": [], "tri": []}
    for start in tqdm(range(0, len(items), 256), desc=label):
        chunk = items[start : start + 256]
        net = np.concatenate(predictor.transformer([ex.masked for ex in chunk]))
        tri = np.concatenate([predictor.trigram(ex.masked) for ex in chunk])
        cand = np.sort(
            np.concatenate([top_k(net, CANDIDATES), top_k(tri, CANDIDATES), near_words[start : start + 256]], axis=1),
            axis=1,
        )
        cand[:, 1:][cand[:, 1:] == cand[:, :-1]] = -1  # each word once
        parts["cand"].append(cand)
        parts["net"].append(np.take_along_axis(net, np.maximum(cand, 0), 1))
        parts["tri"].append(np.take_along_axis(tri, np.maximum(cand, 0), 1))
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["right"] = (out["cand"] == targets[:, None]) & (targets[:, None] > 0)
    return out


def knn_probs(same: np.ndarray, distances: np.ndarray, temperature: float) -> np.ndarray:
    """p_knn of each candidate: the softmax(-d / T) weight of the neighbours that are that word
    (``same``: (N, candidates, k), candidate j is neighbour i's word)."""
    logits = -distances / temperature
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,njk->nj", weights.astype(np.float32), same, dtype=np.float32)


def hits(c: dict[str, np.ndarray], p_knn: np.ndarray | None, lam: float, weight: float) -> np.ndarray:
    """(N, 2) top-1 and top-5 hits of the mixture over the candidates (a word no part allows never counts)."""
    with np.errstate(divide="ignore"):
        mixed = c["net"] if p_knn is None or lam == 0 else np.log((1 - lam) * np.exp(c["net"]) + lam * p_knn)
    score = mixed if weight == 0 else c["tri"] if weight == 1 else (1 - weight) * mixed + weight * c["tri"]
    score = np.where((c["cand"] >= 0) & np.isfinite(score), score, -np.inf)
    top = np.argsort(-score, axis=1, kind="stable")[:, :5]
    right = np.take_along_axis(c["right"] & np.isfinite(score), top, axis=1)
    return np.stack([right[:, 0], right.any(axis=1)], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--k", type=int, default=64, help="neighbours per masked word")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the training lines in the datastore")
    parser.add_argument("--dev-words", type=int, default=4, help="masked words per dev sentence")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N words of each split (a dry run)")
    args = parser.parse_args()
    ctx = components.context("fillmask", Settings(root=Path.cwd()))
    threads = ctx.config.train.threads
    torch.set_num_threads(threads)
    predictor = Predictor.load(ctx.paths.models, threads=threads)
    network = load_network(ctx.paths.models / NETWORK_FILE)
    bf16 = resolve_precision(ctx.config.train.precision, network.cfg.dim) == "bf16"
    started = time.perf_counter()

    lines = load_split(ctx.paths.prepared, "train")
    keep = np.random.default_rng(5).choice(len(lines), int(len(lines) * args.fraction), replace=False)
    data = windows([lines[i] for i in sorted(keep)], predictor.cache, predictor.vocab, network.cfg.max_tokens)
    keys, values = datastore(network, data, bf16)
    splits = {
        "dev": dev_examples(ctx, predictor, args.dev_words),
        "validation": split_examples(ctx, predictor, "val", "positions", 0).items,
    }
    if args.limit:
        splits = {name: items[: args.limit] for name, items in splits.items()}
    found = {}
    for name, items in splits.items():
        distances, index = neighbours(queries(network, predictor, items, bf16), keys, args.k)
        words = values[index]
        found[name] = (distances, words, candidates(predictor, items, words, name))

    dev_d, dev_w, dev_c = found["dev"]
    scale = float(np.median(dev_d[:, 0]))
    dev_same = (dev_c["cand"][:, :, None] == dev_w[:, None, :]).astype(np.float32)
    results: dict[tuple[float, float, float], np.ndarray] = {}
    for t in tqdm(TEMPERATURES, desc="dev grid"):
        p = knn_probs(dev_same, dev_d, t * scale)
        for lam, w in itertools.product(LAMBDAS, WEIGHTS):
            results[(t, lam, w)] = hits(dev_c, p, lam, w).mean(axis=0)

    def best(keys_: list[tuple[float, float, float]], on: int = 0) -> tuple[float, float, float]:
        return max(keys_, key=lambda key: (results[key][on], results[key][1 - on], -key[1], -key[2]))

    everything = list(results)
    no_memory = [key for key in everything if key[1] == 0 and key[0] == TEMPERATURES[0]]
    chosen = {
        "trigram": (TEMPERATURES[0], 0.0, 1.0),
        "transformer": (TEMPERATURES[0], 0.0, 0.0),
        "served: transformer + trigram (weight chosen on dev)": best(no_memory),
        "kNN alone (T chosen on dev)": best([key for key in everything if key[1] == 1.0 and key[2] == 0.0]),
        "transformer + kNN (λ, T chosen on dev)": best([key for key in everything if key[2] == 0.0]),
        "transformer + kNN + trigram (chosen on dev for top-1)": best(everything),
        "transformer + kNN + trigram (chosen on dev for top-5)": best(everything, on=1),
    }
    val_d, val_w, val_c = found["validation"]
    val_same = (val_c["cand"][:, :, None] == val_w[:, None, :]).astype(np.float32)
    rows = []
    for name, (t, lam, w) in chosen.items():
        p_knn = knn_probs(val_same, val_d, t * scale) if lam > 0 else None
        rows.append((name, (t, lam, w), hits(val_c, p_knn, lam, w).mean(axis=0)))
    trigram = rows[0][2]
    print(
        f"\ndatastore: {len(values):,} training words ({args.fraction:.0%} of the lines), {args.k} neighbours; "
        f"{len(val_c['cand'])} validation words, chosen on {len(dev_c['cand'])} dev words; "
        f"median nearest distance on dev {scale:.3g}; {time.perf_counter() - started:.0f} s\n"
    )
    columns = (
        "predictor",
        "λ (kNN)",
        "T (x median)",
        "trigram weight",
        "top-1",
        "top-5",
        "top-1 vs trigram",
        "top-5 vs trigram",
    )
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (t, lam, w), (top1, top5) in rows:
        temperature = f"{t}" if lam > 0 else "-"
        print(
            f"| {name} | {lam} | {temperature} | {w} | {top1:.1%} | {top5:.1%} | "
            f"{top1 / trigram[0]:.3f}x | {top5 / trigram[1]:.3f}x |"
        )


if __name__ == "__main__":
    main()
