"""Training the fillmask transformer on the CPU within a time budget, everything logged to MLflow.

The loop (nanoGPT-sized): AdamW, linear warm-up then cosine decay, every word of a window
predicted against a sampled softmax (the full one over 40,000 words cost more than the rest). The
schedule's progress is the larger of steps done and time used, so the learning rate has decayed
when the budget (``max_minutes``) runs out, not just when the epochs do. The best epoch on the dev
split is exported to ONNX (int8 weights) beside its tokenizer, word vocabulary and the trigram
model. The trigram's weight in the served mixture is chosen with the exported files on ``unseen_dev``
(sources held out of training): on dev, which shares its sources' phrasing with training, the
trigram's memory looks better than it is on a text the model never read. Both choices are recorded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from tqdm import tqdm

from farga import energy, tracking
from farga.components import Facts
from farga.config import StageContext
from farga.distributed import ALONE, Checkpoint, Workers, fingerprint, training_run, workers
from farga.fillmask.model import MASK, NETWORK_FILE, UNK, FillMaskModel, ModelConfig, n_params, save_network
from farga.fillmask.ngram import NGRAM_FILE, NgramModel
from farga.fillmask.predictor import METADATA_KEY, Predictor
from farga.fillmask.prepare import load_split, prepared_facts
from farga.fillmask.scoring import Example, accuracy, examples
from farga.fillmask.text import split
from farga.fillmask.vocab import TOKENIZER_FILE, WORDS_FILE, SubwordCache, WordVocab, train_tokenizer
from farga.fillmask.windows import Batch, Row, Window, batch_rows, collate, encode, length_groups, windows
from farga.hashing import sha256_bytes, sha256_file, write_json
from farga.onnx_runtime import set_metadata
from farga.plots import plot_learning_curves
from farga.reproducibility import seed_everything

OPSET = 17
NGRAM_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def example_batch(items: list[Example], cache: SubwordCache, cfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask positions) of one masked word per example, as the served predictor reads it."""
    rows: list[Row] = []
    for ex in items:
        clipped = ex.clipped(lambda w: len(cache(w)), cfg.max_tokens)
        ids, _ = encode([cache(w) for w in clipped.masked], [])
        at = ids.index(MASK)
        rows.append((ids, [(at, at + 1)], []))
    batch_ids, positions, _, _ = collate(rows)
    return batch_ids, positions


@torch.no_grad()
def score_examples(
    model: FillMaskModel, items: list[Example], cache: SubwordCache, vocab: WordVocab, batch: int = 128
) -> dict[str, float]:
    model.eval()
    allowed = torch.as_tensor(vocab.predictable)
    parts = []
    for start in range(0, len(items), batch):
        ids, positions = example_batch(items[start : start + batch], cache, model.cfg)
        lp = model(ids, positions)[:, 0].masked_fill(~allowed, -math.inf)
        parts.append(torch.log_softmax(lp, dim=-1).numpy())
    model.train()
    return accuracy(np.concatenate(parts), np.array([vocab.index.get(ex.target, 0) for ex in items]))


class RivalCrossEntropy(torch.autograd.Function):
    """-log softmax of each true logit against its row of rival logits, with the rivals at ``hits`` (the
    true word drawn as its own rival) left out. Written by hand because the (words x rivals) matrix is
    most of a step's memory traffic: the loss and its backward pass over ~3,000 words and ~4,760 rivals
    took 0.31-0.34 s with ``logsumexp``/``logaddexp``, 0.20-0.22 s this way (bfloat16, 2 threads, median
    of 10 training batches); the loss and gradients are the same."""

    @staticmethod
    def forward(
        ctx: Any, rivals: torch.Tensor, true: torch.Tensor, hits: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        e = rivals.float() if rivals.dtype != torch.float32 else rivals.clone()
        top = torch.maximum(e.amax(dim=1), true)
        e.sub_(top[:, None]).exp_().index_put_(hits, torch.tensor(0.0))
        total = e.sum(dim=1) + torch.exp(true - top)
        log_total = top + torch.log(total)
        ctx.save_for_backward(e, total, torch.exp(true - log_total))
        ctx.dtype = rivals.dtype
        return log_total - true

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        e, total, p_true = ctx.saved_tensors
        return (e * (grad / total)[:, None]).to(ctx.dtype), grad * (p_true - 1), None


def sampled_softmax_loss(
    model: FillMaskModel, states: torch.Tensor, targets: torch.Tensor, proposal: torch.Tensor, draws: int
) -> torch.Tensor:
    """Cross-entropy over the true word and the distinct words of ``draws`` samples from ``proposal``,
    each logit less the log of the chance that its word is among them (Jean et al., 2015): close to the
    full softmax's loss (an estimate from a sample, not exact) at a fraction of its cost, which lets
    training predict every word of a window. Frequent words are drawn almost surely, so for them it is
    the full softmax."""
    keep = targets.flatten() != -100
    hidden, true = states.flatten(0, 1)[keep], targets.flatten()[keep]
    weight = model.output_weight()
    shift = model.words.bias - torch.log(-torch.expm1(draws * torch.log1p(-proposal)))  # less log P(drawn)
    drawn = torch.unique(torch.multinomial(proposal, draws, replacement=True))  # sorted
    true_logit = (hidden * weight[true].to(hidden.dtype)).sum(-1).float() + shift[true]
    rivals = torch.addmm(shift[drawn].to(hidden.dtype), hidden, weight[drawn].to(hidden.dtype).T)
    at = torch.searchsorted(drawn, true).clamp(max=len(drawn) - 1)
    hit = drawn[at] == true  # the true word is not its own rival
    losses: torch.Tensor = RivalCrossEntropy.apply(rivals, true_logit, (hit.nonzero()[:, 0], at[hit]))  # type: ignore[no-untyped-call]
    return losses.mean()


def resolve_precision(precision: str, dim: int) -> str:
    """``auto`` -> bf16 where this CPU multiplies bfloat16 matrices clearly faster than float32 (with AMX:
    several times), else fp32: AVX-512 BF16 alone can be slower than float32, as on some cloud VMs."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"train.precision must be auto, bf16 or fp32, got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if product_seconds(torch.bfloat16, dim) * 1.2 < product_seconds(torch.float32, dim) else "fp32"


def product_seconds(dtype: torch.dtype, dim: int, reps: int = 5) -> float:
    """Mean time of a (2048 x dim) @ (dim x 4 dim) product in ``dtype``: the shape of the network's
    feed-forward layers, what ``auto`` compares."""
    a, b = torch.randn(2048, dim, dtype=dtype), torch.randn(dim, 4 * dim, dtype=dtype)
    a @ b  # warm-up
    started = time.perf_counter()
    for _ in range(reps):
        a @ b
    return (time.perf_counter() - started) / reps


def learning_rate(progress: float, cfg: dict[str, Any]) -> float:
    warm = float(cfg["warmup_fraction"])
    if progress < warm:
        return float(cfg["lr"]) * progress / warm
    return float(cfg["lr"]) * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warm) / (1 - warm))))


def make_optimizer(model: FillMaskModel, cfg: dict[str, Any]) -> torch.optim.AdamW:
    """AdamW, no weight decay on biases, norms and positions."""
    decay: list[torch.nn.Parameter] = []
    plain: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (plain if p.ndim < 2 or "positions" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": float(cfg["weight_decay"])}, {"params": plain, "weight_decay": 0.0}],
        lr=float(cfg["lr"]),
        betas=(0.9, 0.98),
    )


def rival_proposal(vocab: WordVocab) -> torch.Tensor:
    """word2vec's smoothed frequencies: rare words are drawn as rivals more often than their share."""
    proposal = torch.as_tensor(vocab.counts, dtype=torch.float).add(1).pow(0.75)
    return proposal / proposal.sum()


class StepLoss(torch.nn.Module):
    """A training batch's loss as a module's forward: DistributedDataParallel averages gradients only
    after a forward pass through the module it wraps, so the whole loss is computed in here."""

    def __init__(self, model: FillMaskModel, proposal: torch.Tensor, draws: int, bf16: bool):
        super().__init__()
        self.model, self.draws, self.bf16 = model, draws, bf16
        self.proposal = proposal  # neither parameter nor buffer: nothing for DDP to synchronise

    def forward(
        self, ids: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            states = self.model.word_states(ids, starts, ends)
            if self.draws:
                return sampled_softmax_loss(self.model, states, targets, self.proposal, self.draws)
            logits = self.model.score(states).float()
            return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


def train_step(loss_fn: torch.nn.Module, opt: torch.optim.AdamW, batch: Batch, share: float = 1.0) -> float:
    """One optimisation step on a batch from ``windows.batches``; the loss before the step.

    ``loss_fn`` is a ``StepLoss``, or one wrapped in DistributedDataParallel; ``share`` scales a
    worker's mean loss so that the gradients DDP averages are those of the whole batch's mean."""
    loss = loss_fn(*batch)
    opt.zero_grad(set_to_none=True)
    (loss if share == 1.0 else loss * share).backward()
    params = [p for p in loss_fn.parameters() if p.grad is not None and not p.grad.is_sparse]
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return float(loss.item())


def fit(
    model: FillMaskModel,
    data: list[Window],
    dev: list[Example],
    cache: SubwordCache,
    vocab: WordVocab,
    cfg: dict[str, Any],
    on_step: Any = None,
    checkpoint: Checkpoint | None = None,
    checkpoint_minutes: float = 5.0,
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """The training loop. Returns the best state (by dev top-1) and the per-epoch history.

    On several workers every one draws the same batches from the same generator and takes its share
    of each batch's rows, so a global batch is the one a single process takes (a batch of fewer
    windows than workers is left out), and DDP averages the gradients. The budget's clock is the
    slowest worker's, so all stop at the same step. An epoch is most of the budget, so rank 0
    checkpoints every ``checkpoint_minutes``; a restarted run replays the epoch's draws up to the
    checkpoint and goes on from there."""
    workers = checkpoint.workers if checkpoint is not None else ALONE
    rng = np.random.default_rng(int(cfg["seed"]))
    epochs, budget = int(cfg["epochs"]), float(cfg["max_minutes"]) * 60
    per_epoch = len(length_groups(data, int(cfg["batch_tokens"]), np.random.default_rng(0)))
    total_steps = epochs * per_epoch
    opt = make_optimizer(model, cfg)
    bf16 = resolve_precision(cfg.get("precision", "fp32"), model.cfg.dim) == "bf16"  # autocast
    predict = float(cfg["predict_fraction"]) if model.cloze else None  # cloze: the share of words predicted
    draws = int(cfg.get("sampled_softmax", 0))  # 0: the full softmax over every word
    loss_fn = workers.wrap(StepLoss(model, rival_proposal(vocab), draws, bf16), broadcast_buffers=False)
    started, step = time.perf_counter(), 0
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, torch.Tensor]] = (-1.0, {})
    first_epoch, replay, carried = 1, 0, [0.0, 0.0]
    resumed = checkpoint.load() if checkpoint is not None else None
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        opt.load_state_dict(resumed["optimizer"])
        rng.bit_generator.state = resumed["rng"]
        history, best = resumed["history"], (resumed["best_top1"], resumed["best_state"])
        first_epoch, replay, step = resumed["epoch"], resumed["position"], resumed["step"]
        started -= resumed["elapsed"]
        carried = resumed["epoch_sums"] if workers.main else carried  # summed over the workers once
        tqdm.write(f"resumed from the checkpoint at step {step} (epoch {first_epoch}/{epochs})")
    saved_at = time.perf_counter() - started

    def save(epoch: int, position: int, rng_state: Mapping[str, Any], sums: list[float], elapsed: float) -> None:
        """What a restart needs: where in which epoch (the generator's state at its start), the
        step, the clock, the epoch's summed loss so far, the history and the best state."""
        assert checkpoint is not None
        checkpoint.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "rng": rng_state,
                "epoch": epoch,
                "position": position,
                "step": step,
                "elapsed": elapsed,
                "epoch_sums": sums,
                "history": history,
                "best_top1": best[0],
                "best_state": best[1],
            }
        )

    model.train()
    for epoch in range(first_epoch, epochs + 1):
        epoch_rng = rng.bit_generator.state  # a restart replays the epoch's draws from here
        epoch_started, (total, seen), position, progress = time.perf_counter(), carried, 0, 0.0
        bar = tqdm(
            batch_rows(data, int(cfg["batch_tokens"]), float(cfg["mask_fraction"]), rng, predict),
            total=per_epoch,
            desc=f"epoch {epoch}/{epochs}",
            unit="batch",
            leave=False,
            disable=not workers.main,
        )
        for rows in bar:
            position += 1
            if position <= replay or len(rows) < workers.world:
                continue
            elapsed = workers.max(time.perf_counter() - started)
            progress = max(step / total_steps, elapsed / budget)
            if progress >= 1.0:
                break
            for group in opt.param_groups:
                group["lr"] = learning_rate(progress, cfg)
            batch, share = own_share(rows, workers)
            loss = train_step(loss_fn, opt, batch, share)
            n = int((batch[3] != -100).sum())
            total, seen, step = total + loss * n, seen + n, step + 1
            bar.set_postfix(loss=f"{total / max(seen, 1):.3f}", lr=f"{opt.param_groups[0]['lr']:.2e}")
            if on_step is not None and step % 100 == 0:
                on_step({"train_loss_running": total / max(seen, 1), "lr": opt.param_groups[0]["lr"]}, step)
            if checkpoint is not None and elapsed - saved_at >= checkpoint_minutes * 60:
                save(epoch, position, epoch_rng, workers.sum([total, seen]), elapsed)
                saved_at = elapsed
        replay, carried = 0, [0.0, 0.0]
        total, seen = workers.sum([total, seen])
        if seen == 0:  # the budget ran out exactly at an epoch's end: nothing new to score
            break
        if workers.main:
            row = score_epoch(model, dev, cache, vocab, epoch, step, total / seen, epoch_started)
            history.append(row)
            if row["val_top1"] > best[0]:
                best = (row["val_top1"], {k: v.detach().clone() for k, v in model.state_dict().items()})
        if checkpoint is not None and progress < 1.0 and epoch < epochs:  # a restart goes on after this epoch
            saved_at = workers.max(time.perf_counter() - started)
            save(epoch + 1, 0, rng.bit_generator.state, [0.0, 0.0], saved_at)
        if workers.main and on_step is not None:  # after the checkpoint: a restart logs what this did not
            on_step(epoch_metrics(history[-1]), step)
        if progress >= 1.0:
            break
    return best[1], history


def epoch_metrics(row: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k not in ("epoch", "step")}


def own_share(rows: list[Row], workers: Workers) -> tuple[Batch, float]:
    """This worker's rows of a global batch, and the factor that makes its mean loss count as its
    share of the whole batch's mean (one worker: the whole batch, 1)."""
    if workers.world == 1:
        return collate(rows), 1.0
    mine = rows[workers.rank :: workers.world]
    return collate(mine), sum(len(r[2]) for r in mine) * workers.world / sum(len(r[2]) for r in rows)


def score_epoch(
    model: FillMaskModel,
    dev: list[Example],
    cache: SubwordCache,
    vocab: WordVocab,
    epoch: int,
    step: int,
    train_loss: float,
    epoch_started: float,
) -> dict[str, float]:
    scores = score_examples(model, dev, cache, vocab)
    row = {
        "epoch": epoch,
        "step": step,
        "train_loss": train_loss,
        "val_loss": math.log(scores["perplexity"]),
        "val_top1": scores["top1"],
        "val_top5": scores["top5"],
        "epoch_seconds": time.perf_counter() - epoch_started,
    }
    tqdm.write(
        f"epoch {epoch}: train loss {row['train_loss']:.3f}  dev loss {row['val_loss']:.3f}  dev top-1 "
        f"{row['val_top1']:.2%}  top-5 {row['val_top5']:.2%}  ({row['epoch_seconds']:.0f}s, step {step})"
    )
    return row


class Exported(torch.nn.Module):
    def __init__(self, model: FillMaskModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, mask_positions: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(input_ids, mask_positions)
        return out


def export(model: FillMaskModel, out: Path, metadata: dict[str, Any], quantize: str) -> dict[str, Path]:
    """ONNX inputs ``input_ids`` (B, T) and ``mask_positions`` (B, M)."""
    model = model.eval().materialise()
    path = out / ("model_fp32.onnx" if quantize == "int8" else "model.onnx")
    inputs = {
        "input_ids": torch.full((1, 8), 5, dtype=torch.long),
        "mask_positions": torch.zeros((1, 1), dtype=torch.long),
    }
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "mask_positions": {0: "batch", 1: "masks"}}
    torch.onnx.export(
        Exported(model),
        tuple(inputs.values()),
        str(path),
        input_names=list(inputs),
        output_names=["log_probs"],
        dynamic_axes={**axes, "log_probs": {0: "batch", 1: "masks"}},
        opset_version=OPSET,
        dynamo=False,
    )
    set_metadata(path, metadata)
    onnx.checker.check_model(str(path))
    if quantize == "none":
        return {"model": path}
    if quantize != "int8":
        raise ValueError(f"train.export.quantize must be int8 or none, got {quantize!r}")
    from farga.quantize import quantize_weights_int8

    served = quantize_weights_int8(path, out / "model.onnx", ("MatMul", "Gemm"))
    return {"model": served, "float_model": path}


def weight_scores(predictor: Predictor, items: list[Example]) -> dict[float, dict[str, float]]:
    """Top-1 and top-5 of the mixture at every candidate weight, on the same words."""
    items = [ex.clipped(predictor.n_tokens_of, predictor.max_tokens) for ex in items]
    targets = predictor.vocab.ids([ex.target for ex in items])
    neural = np.concatenate(predictor.transformer([ex.masked for ex in items]))
    trigram = np.concatenate([predictor.trigram(ex.masked) for ex in items])
    out = {}
    for w in NGRAM_WEIGHTS:
        scores = accuracy(predictor.mix(neural, trigram, w), targets)
        out[w] = {"top1": scores["top1"], "top5": scores["top5"]}
    return out


def best_weight(scores: dict[float, dict[str, float]]) -> float:
    """The weight with the best mean of top-1 and top-5 (ties: the smaller weight, the transformer's)."""
    return max(scores, key=lambda w: (scores[w]["top1"] + scores[w]["top5"], -w))


@dataclass(frozen=True)
class Mixture:
    """The served mixture's weight, where it was chosen, and the grid it was chosen from (``mixture.json``)."""

    ngram_weight: float
    chosen_on: str  # unseen_dev, or dev when no source is held out
    dev_weight: float  # the weight dev would have chosen
    dev_by_weight: dict[str, dict[str, float]]
    unseen_dev_by_weight: dict[str, dict[str, float]]
    dev_positions: int
    unseen_dev_positions: int


def choose_ngram_weight(model_dir: Path, dev: list[Example], unseen_dev: list[Example]) -> Mixture:
    """The trigram's weight in the served mixture, chosen on ``unseen_dev``; the weight dev would have
    chosen is kept beside it. Without held-out sources, dev chooses."""
    predictor = Predictor.load(model_dir)
    on_dev = weight_scores(predictor, dev)
    on_unseen = weight_scores(predictor, unseen_dev) if unseen_dev else {}
    return Mixture(
        ngram_weight=best_weight(on_unseen or on_dev),
        chosen_on="unseen_dev" if on_unseen else "dev",
        dev_weight=best_weight(on_dev),
        dev_by_weight={str(w): s for w, s in on_dev.items()},
        unseen_dev_by_weight={str(w): s for w, s in on_unseen.items()},
        dev_positions=len(dev),
        unseen_dev_positions=len(unseen_dev),
    )


class Built(NamedTuple):
    cased: list[list[str]]  # the training lines as words, in their own case
    tokenizer: Tokenizer
    vocab: WordVocab
    cache: SubwordCache
    data: list[Window]
    model: FillMaskModel


def build(train_lines: list[str], cfg: dict[str, Any], joined: Workers = ALONE) -> Built:
    """Tokenizer, word vocabulary and windows from the training lines, and a fresh network for them.

    Training a tokenizer twice on the same lines can order tied merges differently, so on several
    workers all take rank 0's; the rest follows from it and the lines alone, which is checked."""
    cased = [split(line, lower=False) for line in train_lines]
    tokenizer = train_tokenizer(
        ([w.lower() for w in ws] for ws in cased), cfg["tokenizer"]["kind"], int(cfg["tokenizer"]["vocab_size"])
    )
    if joined.world > 1:
        tokenizer = Tokenizer.from_str(joined.from_main(tokenizer.to_str()))
    vocab = WordVocab.build(cased, int(cfg["words"]["max_size"]), int(cfg["words"]["min_count"]))
    cache = SubwordCache(tokenizer)
    data = windows(train_lines, cache, vocab, int(cfg["max_tokens"]))
    joined.check_same(sha256_bytes(repr([vocab.words, [w.pieces for w in data]]).encode()), "words and windows")
    model_cfg = ModelConfig.from_params(
        tokenizer.get_vocab_size(), len(vocab.words), int(cfg["max_tokens"]), cfg["model"]
    )
    model = FillMaskModel(model_cfg, [cache(w)[:8] if i > 2 else [UNK] for i, w in enumerate(vocab.words)])
    with torch.no_grad():  # start from word frequencies: the first steps need not learn them
        model.words.bias.copy_(
            torch.log((torch.as_tensor(vocab.counts, dtype=torch.float) + 1) / (vocab.counts.sum() + 1))
        )
    return Built(cased, tokenizer, vocab, cache, data, model)


def train(ctx: StageContext) -> Facts:
    with workers() as joined:
        return _train(ctx, joined)


def _train(ctx: StageContext, joined: Workers) -> Facts:
    cfg = ctx.params["train"]
    seed_everything(int(cfg["seed"]), int(cfg["threads"]))
    prepared, out, reports = ctx.paths.prepared, ctx.paths.models, ctx.paths.reports
    train_lines, dev_lines = load_split(prepared, "train"), load_split(prepared, "dev")
    facts = prepared_facts(prepared)
    source = ctx.params["data"]["source"]
    cased, tokenizer, vocab, cache, data, model = build(train_lines, cfg, joined)
    model_cfg = model.cfg
    evaluate = ctx.params["evaluate"]
    dev = examples(dev_lines, int(evaluate["dev_positions"]), int(evaluate["seed"]) + 1)
    unseen_dev = examples(
        load_split(prepared, "unseen_dev"), int(evaluate["unseen_dev_positions"]), int(evaluate["seed"]) + 2
    )
    checkpoint = Checkpoint(ctx.settings.checkpoints(ctx.component), fingerprint(cfg, facts["source_sha256"]), joined)
    # a restart goes on at the precision its checkpoint was trained at: `auto` measures anew, and on a
    # loaded machine may choose otherwise (MLflow then refuses the resumed run's changed parameter)
    resumed = checkpoint.load() if joined.main else None
    chosen = checkpoint.folder / "precision.txt"
    earlier = chosen.read_text().strip() if resumed is not None and chosen.exists() else None
    precision = joined.from_main(earlier or resolve_precision(cfg.get("precision", "fp32"), model_cfg.dim))
    if joined.main:
        chosen.parent.mkdir(parents=True, exist_ok=True)
        chosen.write_text(precision)
    minutes = ctx.settings.checkpoint_minutes
    if not joined.main:  # a helper: its gradients count, rank 0 reports and exports
        fit(model, data, dev, cache, vocab, {**cfg, "precision": precision}, None, checkpoint, minutes)
        return {"rank": joined.rank, "workers": joined.world}
    out.mkdir(parents=True, exist_ok=True)
    reports.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / TOKENIZER_FILE))
    vocab.save(out)

    opened = training_run(ctx.settings, ctx.component, f"train-{source}", checkpoint, resumed, epoch_metrics, "step")
    with opened as (run, checkpoint):
        import mlflow

        mlflow.set_tags(
            {
                "component": ctx.component,
                "stage": "train",
                "data.source": source,
                "data.sha256": facts["source_sha256"],
                "profile": ctx.params.get("profile", "full"),
            }
        )
        mlflow.log_params(tracking.flatten({"train": cfg, "data": ctx.params["data"]}))
        mlflow.log_params(
            {
                "model.parameters": n_params(model),
                "data.train_windows": len(data),
                "data.word_vocabulary": len(vocab.words),
                "data.subword_vocabulary": model_cfg.vocab_size,
            }
        )
        mlflow.log_param("train.precision_used", precision)
        started = time.perf_counter()
        with energy.track("train") as used:
            state, history = fit(
                model,
                data,
                dev,
                cache,
                vocab,
                {**cfg, "precision": precision},
                on_step=lambda row, step: mlflow.log_metrics(row, step=step),
                checkpoint=checkpoint,
                checkpoint_minutes=minutes,
            )
        train_seconds = time.perf_counter() - started
        mlflow.log_metrics(energy.as_metrics(used))
        mlflow.set_tag("energy.caveat", energy.CAVEAT)
        model.load_state_dict(state)
        curves = plot_learning_curves(history, reports / "learning_curves.png")
        mlflow.log_artifact(str(curves), artifact_path="plots")

        provenance = {"run_id": run.info.run_id, "data_sha256": facts["source_sha256"], "data_source": source}
        ngram = NgramModel.fit(
            (vocab.ids([w.lower() for w in ws]) for ws in cased),
            len(vocab.words),
            float(ctx.params["evaluate"]["ngram"]["discount"]),
        )
        ngram.save(out / NGRAM_FILE)
        settings: dict[str, Any] = {
            "max_tokens": model_cfg.max_tokens,
            "model": model_cfg.as_dict(),
            "ngram_weight": 0.0,
        }
        files = export(
            model,
            out,
            {"farga.provenance": provenance, METADATA_KEY: settings},
            cfg.get("export", {}).get("quantize", "none"),
        )
        save_network(model, out / NETWORK_FILE)
        mixture = choose_ngram_weight(out, dev, unseen_dev)
        settings["ngram_weight"] = mixture.ngram_weight
        for graph in {files["model"], files.get("float_model", files["model"])}:  # both serve the same mixture
            set_metadata(graph, {METADATA_KEY: settings})
        write_json(out / "mixture.json", asdict(mixture))
        extra = [out / TOKENIZER_FILE, out / WORDS_FILE, out / NGRAM_FILE, out / "mixture.json"]
        model_uri = tracking.log_served_model(files, extra, ["onnxruntime", "numpy", "tokenizers"], provenance)
        best = max(history, key=lambda r: r["val_top1"])
        summary = {
            "run_id": run.info.run_id,
            "model_uri": model_uri,
            "model_sha256": sha256_file(files["model"]),
            "quantization": cfg.get("export", {}).get("quantize", "none"),
            "precision": precision,
            "parameters": n_params(model),
            "train_seconds": round(train_seconds, 1),
            "workers": joined.world,
            "resumed_at_step": resumed["step"] if resumed else 0,
            "steps": history[-1]["step"],
            "best_epoch": int(best["epoch"]),
            "dev_top1": best["val_top1"],
            "dev_top5": best["val_top5"],
            "ngram_weight": mixture.ngram_weight,
            "ngram_weight_chosen_on": mixture.chosen_on,
            "ngram_weight_dev": mixture.dev_weight,
            "data_source": source,
            "data_sha256": facts["source_sha256"],
            "energy": used,
            "train_windows": len(data),
            "word_vocabulary": len(vocab.words),
            "subword_vocabulary": model_cfg.vocab_size,
        }
        mlflow.log_metrics(
            {"train_seconds": train_seconds, "best_dev_top1": best["val_top1"], "ngram_weight": mixture.ngram_weight}
        )
    write_json(out / "run.json", summary)
    write_json(reports / "history.json", history)
    checkpoint.clear()
    return summary
