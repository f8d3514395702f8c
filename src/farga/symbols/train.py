"""Training the symbols CNN on the CPU, deterministically, with everything logged to MLflow.

The loop: AdamW + one-cycle learning rate, label smoothing, light geometric augmentation done on
whole batches in torch (random rotation, scale and shift of the ink map). Validation after every
epoch; the best epoch by validation top-1 is exported to ONNX, the serving format.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DistributedSampler, TensorDataset
from tqdm import tqdm

from farga.distributed import Checkpoint, Workers, fingerprint, workers
from farga.errors import FargaError
from farga.facts import Facts
from farga.hashing import read_json, sha256_file
from farga.precision import Precision, precision_here, resolve_precision
from farga.reproducibility import seed_everything
from farga.symbols.augment import augment
from farga.symbols.model import CNNConfig, SymbolCNN, n_params
from farga.symbols.params import SymbolsContext, Train
from farga.symbols.prepare import load_classes, load_split
from farga.training import training


def to_input(batch: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(batch)).float().div_(255.0).unsqueeze(1)
    return x.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: np.ndarray, batch: int = 2048) -> torch.Tensor:
    model.eval()
    out = [model(to_input(images[i : i + batch])) for i in range(0, len(images), batch)]
    return torch.cat(out) if out else torch.empty(0)


def evaluate_split(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    logits = predict_logits(model, images)
    y = torch.as_tensor(labels)
    top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
    return {
        "loss": float(F.cross_entropy(logits, y)),
        "top1": float((top5[:, 0] == y).float().mean()),
        "top5": float((top5 == y[:, None]).any(1).float().mean()),
    }


def fit(
    model: SymbolCNN,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    cfg: Train,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    checkpoint: Checkpoint | None = None,
    weights: np.ndarray | None = None,
    precision: Precision = "fp32",
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """The training loop. Returns the best state (by validation top-1) and the per-epoch history.

    In bf16 the forward pass and loss run under autocast (weights, optimiser and validation stay float32).
    With ``cfg.ema`` a moving average of the weights is kept per step and scored beside them after every
    epoch: the best state may be either (the row's ``ema_*`` figures say which won).

    On several workers each global batch is the one a single process would take, split between
    them (DistributedSampler over the epoch's order), and DDP averages their gradients: the same
    step as on one process but for batch-norm statistics and augmentation draws. Rank 0 validates
    and checkpoints after every epoch; a restarted run goes on from the last checkpoint. With
    ``weights``, an epoch is as many drawings drawn with replacement in proportion to them."""
    workers = checkpoint.workers if checkpoint is not None else Workers()
    x_train, y_train = torch.as_tensor(train[0]), torch.as_tensor(train[1])
    seed, epochs, batch = cfg.seed, cfg.epochs, cfg.batch_size
    if batch % workers.world:
        raise FargaError(f"train.batch_size {batch} does not split evenly over {workers.world} training processes")
    local_batch = batch // workers.world
    # every rank draws the same order from `gen`; on one process augmentation draws from it too, as it
    # always has (single-process results do not change), on several each rank has its own stream
    gen = torch.Generator().manual_seed(seed)
    shard: DistributedSampler[int] = DistributedSampler(
        TensorDataset(torch.arange(len(x_train))), num_replicas=workers.world, rank=workers.rank, shuffle=False
    )
    steps = epochs * math.ceil(len(shard) / local_batch)
    net = workers.wrap(model.to(memory_format=torch.channels_last))  # type: ignore[call-overload]
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=cfg.warmup_fraction)
    # the average starts at the peak of the learning rate: weights from before it are too far apart to average
    ema = get_ema_multi_avg_fn(cfg.ema)  # type: ignore[no-untyped-call]
    averaged = AveragedModel(model, multi_avg_fn=ema, use_buffers=True) if cfg.ema else None
    warm = int(cfg.warmup_fraction * steps)
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, torch.Tensor]] = (-1.0, {})
    resumed = checkpoint.load() if checkpoint is not None else None
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        if averaged is not None:
            averaged.load_state_dict(resumed["averaged"])
        opt.load_state_dict(resumed["optimizer"])
        sched.load_state_dict(resumed["scheduler"])
        gen.set_state(resumed["generator"])
        history, best = resumed["history"], (resumed["best_top1"], resumed["best_state"])
        tqdm.write(f"resumed from the checkpoint of epoch {len(history)}/{epochs}")
    for epoch in range(len(history) + 1, epochs + 1):
        net.train()
        if weights is None:
            perm = torch.randperm(len(x_train), generator=gen)
        else:
            perm = torch.multinomial(torch.as_tensor(weights), len(x_train), replacement=True, generator=gen)
        order = perm[torch.as_tensor(list(shard))]
        aug = gen if workers.world == 1 else torch.Generator().manual_seed(_stream(seed, workers.rank, epoch))
        started, total, seen = time.perf_counter(), 0.0, 0.0
        bar = tqdm(
            range(0, len(order), local_batch),
            desc=f"epoch {epoch}/{epochs}",
            unit="batch",
            leave=False,
            disable=not workers.main,
        )
        for start in bar:
            idx = order[start : start + local_batch]
            if len(idx) < 2:  # batch norm cannot train on one drawing: a last batch of one is left out
                continue
            x = to_input(x_train[idx])
            if cfg.augment.enabled:
                x = augment(x, cfg.augment, aug).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = net(x)
            loss = F.cross_entropy(logits.float(), y_train[idx], label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            if averaged is not None and sched.last_epoch >= warm:
                averaged.update_parameters(model)
            total += loss.item() * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        total, seen = workers.sum([total, seen])
        if workers.main:
            scores = evaluate_split(model, *val)
            row = {
                "epoch": epoch,
                "train_loss": total / seen,
                "val_loss": scores["loss"],
                "val_top1": scores["top1"],
                "val_top5": scores["top5"],
                "lr": float(sched.get_last_lr()[0]),
                "epoch_seconds": time.perf_counter() - started,
            }
            candidates: list[tuple[float, torch.nn.Module]] = [(scores["top1"], model)]
            if averaged is not None and int(averaged.n_averaged) > 0:
                smooth = evaluate_split(averaged.module, *val)
                row |= {f"ema_val_{k}": v for k, v in smooth.items()}
                candidates.append((smooth["top1"], averaged.module))
            history.append(row)
            tqdm.write(
                f"epoch {epoch}/{epochs}: train loss {row['train_loss']:.3f}  val loss {row['val_loss']:.3f}  "
                f"val top-1 {row['val_top1']:.2%}  top-5 {row['val_top5']:.2%}"
                + (f"  averaged {row['ema_val_top1']:.2%}" if "ema_val_top1" in row else "")
                + f"  ({row['epoch_seconds']:.0f}s)"
            )
            top1, winner = max(candidates, key=lambda c: c[0])
            if top1 > best[0]:
                best = (top1, {k: v.detach().clone() for k, v in winner.state_dict().items()})
        else:
            history.append({"epoch": epoch})
        if checkpoint is not None and epoch < epochs:
            checkpoint.save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "generator": gen.get_state(),
                    "averaged": averaged.state_dict() if averaged is not None else None,
                    "history": history,
                    "best_top1": best[0],
                    "best_state": best[1],
                }
            )
        if workers.main and on_epoch is not None:  # after the checkpoint: a restart logs what this did not
            on_epoch(history[-1])
    return best[1], history


def kept(history: list[dict[str, float]]) -> dict[str, float]:
    """The epoch whose state ``fit`` kept and its validation figures: the first best top-1, the raw
    weights before their average on a tie (``averaged`` 1.0 where the average won)."""
    best = {"top1": -1.0}
    for row in history:
        for prefix, averaged in (("val_", 0.0), ("ema_val_", 1.0)):
            if row.get(f"{prefix}top1", -1.0) > best["top1"]:
                best = {"epoch": row["epoch"], "averaged": averaged, "top1": row[f"{prefix}top1"]}
                best["top5"] = row[f"{prefix}top5"]
    return best


def epoch_metrics(row: dict[str, Any]) -> dict[str, float]:
    """An epoch's row of the history as MLflow metrics (its number is the step)."""
    return {k: float(v) for k, v in row.items() if k != "epoch"}


def _stream(*key: int) -> int:
    """A seed of its own for each (seed, rank, epoch): augmentation draws that a restart repeats."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


NETWORK = "network.pt"


def calibration_images(images: np.ndarray, cfg: Train) -> np.ndarray | None:
    """A seeded sample of training images to calibrate int8 activation ranges (None: serve float)."""
    if cfg.export.quantize == "none":
        return None
    n = min(cfg.export.calibration_samples, len(images))
    pick = np.random.default_rng(cfg.seed).choice(len(images), size=n, replace=False)
    return images[np.sort(pick)]


Split = tuple[np.ndarray, np.ndarray, pd.DataFrame]  # images, labels, their manifest rows


def start(ctx: SymbolsContext, cfg: Train) -> tuple[list[dict[str, Any]], Split, Split, SymbolCNN]:
    """Seeded, the prepared classes, training and validation splits, and a fresh network: what a
    pipeline run and a tuning trial both begin with, in the order that keeps a run reproducible."""
    seed_everything(cfg.seed, cfg.threads)
    classes = load_classes(ctx.paths.prepared)
    train, val = load_split(ctx.paths.prepared, "train"), load_split(ctx.paths.prepared, "val")
    return classes, train, val, SymbolCNN(CNNConfig.from_params(len(classes), cfg.model))


def draw_weights(cfg: Train, pools: list[int], rows: pd.DataFrame) -> np.ndarray | None:
    """Each training drawing's chance to be drawn (None: every drawing once per epoch)."""
    if cfg.pool_weight == 1.0:
        return None
    return np.where(rows.writer.isin(pools).to_numpy(), cfg.pool_weight, 1.0)


def trial(ctx: SymbolsContext, report: Callable[[int, float], None]) -> float:
    """One `farga tune` trial: the first specialist's training on the prepared data, nothing exported."""
    cfg = ctx.config.train.of(next(iter(ctx.config.train.specialists)))
    _, (x_train, y_train, rows), (x_val, y_val, _), model = start(ctx, cfg)
    _, history = fit(
        model,
        (x_train, y_train),
        (x_val, y_val),
        cfg,
        lambda row: report(int(row["epoch"]), row["val_top1"]),
        weights=draw_weights(cfg, ctx.config.data.writer_holdout.pools, rows),
        precision=resolve_precision(cfg.precision),
    )
    return kept(history)["top1"]


def recipe(ctx: SymbolsContext, part: str) -> str:
    """What a specialist is made from: its training params and the prepared data's hashes."""
    facts = read_json(ctx.paths.prepared / "prepare.json")
    cfg = ctx.config.train.of(part).model_dump(mode="json", exclude={"specialists", "join_step", "export"})
    data = ctx.config.data.model_dump(mode="json")
    return fingerprint(cfg, data, facts["source_sha256"], facts.get("feedback_sha256"))


def train_part(ctx: SymbolsContext, part: str) -> Facts:
    with workers() as joined:
        return _train(ctx, joined, part)


def _train(ctx: SymbolsContext, joined: Workers, part: str) -> Facts:
    cfg = ctx.config.train.of(part)
    classes, (x_train, y_train, train_rows), (x_val, y_val, _), model = start(ctx, cfg)
    prepared_facts = read_json(ctx.paths.prepared / "prepare.json")
    data_sha, feedback_sha = str(prepared_facts["source_sha256"]), prepared_facts.get("feedback_sha256")
    made_of = recipe(ctx, part)
    checkpoint = Checkpoint(ctx.settings.checkpoints(ctx.component) / part, made_of, joined)
    weights = draw_weights(cfg, ctx.config.data.writer_holdout.pools, train_rows)
    resumed = checkpoint.load() if joined.main else None
    precision = precision_here(checkpoint, resumed, cfg.precision)
    if not joined.main:  # a helper: its gradients count, rank 0 reports and saves
        fit(model, (x_train, y_train), (x_val, y_val), cfg, checkpoint=checkpoint, weights=weights, precision=precision)
        return {"rank": joined.rank, "workers": joined.world}
    tags = {"data.source": ctx.config.data.source, "data.feedback_sha256": str(feedback_sha)}
    logged = {"train": cfg, "data": ctx.config.data}
    with training(
        ctx,
        checkpoint,
        resumed,
        data_sha=data_sha,
        logged=logged,
        tags=tags,
        step="epoch",
        epoch_metrics=epoch_metrics,
        part=part,
    ) as shell:
        import mlflow

        def log_epoch(row: dict[str, float]) -> None:
            mlflow.log_metrics(epoch_metrics(row), step=int(row["epoch"]))

        mlflow.log_params(
            {"model.parameters": n_params(model), "data.train_size": len(x_train), "train.precision_used": precision}
        )
        with shell.measured():
            state, history = fit(
                model, (x_train, y_train), (x_val, y_val), cfg, log_epoch, shell.checkpoint, weights, precision
            )
        shell.curves(history)
        out = shell.paths.models
        out.mkdir(parents=True, exist_ok=True)
        network = out / NETWORK
        torch.save({"config": asdict(model.cfg), "state": state, "classes": classes}, network)
        mlflow.log_artifact(str(network), artifact_path="network")
        best = kept(history)
        summary: Facts = {
            "run_id": shell.run_id,
            "part": part,
            "recipe": made_of,
            "network_sha256": sha256_file(network),
            "parameters": n_params(model),
            "train_seconds": round(shell.seconds, 1),
            "workers": joined.world,
            "resumed_after_epoch": len(resumed["history"]) if resumed else 0,
            "epochs": len(history),
            "precision": precision,
            "best_epoch": int(best["epoch"]),
            "best_is_average": bool(best["averaged"]),
            "val_top1": best["top1"],
            "val_top5": best["top5"],
            "data_sha256": data_sha,
            "feedback_sha256": feedback_sha,
            "energy": shell.energy,
        }
        mlflow.log_metrics({"train_seconds": shell.seconds, "best_val_top1": best["top1"]})
    return shell.finish(summary, history)


def load_network(folder: Path) -> SymbolCNN:
    """A specialist as its training saved it (``network.pt``), in evaluation mode."""
    saved = torch.load(folder / NETWORK, weights_only=True)
    config = saved["config"]
    model = SymbolCNN(
        CNNConfig(
            **{**config, "channels": tuple(config["channels"]), "convs_per_stage": tuple(config["convs_per_stage"])}
        )
    )
    model.load_state_dict(saved["state"])
    return model.eval()
