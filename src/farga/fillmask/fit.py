"""The fillmask training loop (nanoGPT-sized): AdamW, linear warm-up then cosine decay, within a time
budget. The schedule's progress is the larger of steps done and time used, so the learning rate has
decayed when the budget (``max_minutes``) runs out, not just when the epochs do; the best epoch on the
dev split is kept."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from farga.distributed import ALONE, Checkpoint, Workers
from farga.fillmask.loss import StepLoss, rival_proposal
from farga.fillmask.model import MASK, FillMaskModel, ModelConfig
from farga.fillmask.params import Train
from farga.fillmask.scoring import Example, accuracy
from farga.fillmask.vocab import SubwordCache, WordVocab
from farga.fillmask.windows import Batch, Row, Window, batch_rows, collate, encode, length_groups
from farga.precision import Precision


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


def learning_rate(progress: float, cfg: Train) -> float:
    warm = cfg.warmup_fraction
    if progress < warm:
        return cfg.lr * progress / warm
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warm) / (1 - warm))))


def make_optimizer(model: FillMaskModel, cfg: Train) -> torch.optim.AdamW:
    """AdamW, no weight decay on biases, norms and positions."""
    decay: list[torch.nn.Parameter] = []
    plain: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (plain if p.ndim < 2 or "positions" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": plain, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.98),
    )


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
    cfg: Train,
    precision: Precision,
    on_step: Callable[[dict[str, float], int], object] | None = None,
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
    rng = np.random.default_rng(cfg.seed)
    epochs, budget = cfg.epochs, cfg.max_minutes * 60
    per_epoch = len(length_groups(data, cfg.batch_tokens, np.random.default_rng(0)))
    total_steps = epochs * per_epoch
    opt = make_optimizer(model, cfg)
    bf16 = precision == "bf16"  # autocast
    predict = cfg.predict_fraction if model.cloze else None  # cloze: the share of words predicted
    draws = cfg.sampled_softmax  # 0: the full softmax over every word
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
            batch_rows(data, cfg.batch_tokens, cfg.mask_fraction, rng, predict),
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
