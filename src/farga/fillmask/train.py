"""Training the fillmask transformer on the CPU within a time budget, everything logged to MLflow.

The stage around the loop (``fit``): the tokenizer, word vocabulary and windows built from the
training lines, the precision this CPU trains at, the shared training shell (``farga.training``),
then the export beside the trigram model and the mixture weight chosen on held-out sources
(``mixture``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, NamedTuple

import torch
from tokenizers import Tokenizer

from farga.distributed import ALONE, Checkpoint, Workers, fingerprint, workers
from farga.facts import Facts
from farga.fillmask.export import export
from farga.fillmask.fit import epoch_metrics, fit
from farga.fillmask.mixture import choose_ngram_weight
from farga.fillmask.model import NETWORK_FILE, UNK, FillMaskModel, ModelConfig, n_params, save_network
from farga.fillmask.ngram import NGRAM_FILE, NgramModel
from farga.fillmask.params import FillmaskContext, Train
from farga.fillmask.predictor import METADATA_KEY
from farga.fillmask.prepare import load_split, prepared_facts
from farga.fillmask.scoring import examples
from farga.fillmask.text import split
from farga.fillmask.vocab import TOKENIZER_FILE, WORDS_FILE, SubwordCache, WordVocab, train_tokenizer
from farga.fillmask.windows import Window, windows
from farga.hashing import sha256_bytes, write_json
from farga.onnx_runtime import set_metadata
from farga.precision import precision_here
from farga.reproducibility import seed_everything
from farga.training import training


class Built(NamedTuple):
    cased: list[list[str]]  # the training lines as words, in their own case
    tokenizer: Tokenizer
    vocab: WordVocab
    cache: SubwordCache
    data: list[Window]
    model: FillMaskModel


def build(train_lines: list[str], cfg: Train, joined: Workers = ALONE) -> Built:
    """Tokenizer, word vocabulary and windows from the training lines, and a fresh network for them.

    Training a tokenizer twice on the same lines can order tied merges differently, so on several
    workers all take rank 0's; the rest follows from it and the lines alone, which is checked."""
    cased = [split(line, lower=False) for line in train_lines]
    tokenizer = train_tokenizer(([w.lower() for w in ws] for ws in cased), cfg.tokenizer.kind, cfg.tokenizer.vocab_size)
    if joined.world > 1:
        tokenizer = Tokenizer.from_str(joined.from_main(tokenizer.to_str()))
    vocab = WordVocab.build(cased, cfg.words.max_size, cfg.words.min_count)
    cache = SubwordCache(tokenizer)
    data = windows(train_lines, cache, vocab, cfg.max_tokens)
    joined.check_same(sha256_bytes(repr([vocab.words, [w.pieces for w in data]]).encode()), "words and windows")
    model_cfg = ModelConfig.from_params(tokenizer.get_vocab_size(), len(vocab.words), cfg.max_tokens, cfg.model)
    model = FillMaskModel(model_cfg, [cache(w)[:8] if i > 2 else [UNK] for i, w in enumerate(vocab.words)])
    with torch.no_grad():  # start from word frequencies: the first steps need not learn them
        model.words.bias.copy_(
            torch.log((torch.as_tensor(vocab.counts, dtype=torch.float) + 1) / (vocab.counts.sum() + 1))
        )
    return Built(cased, tokenizer, vocab, cache, data, model)


def train(ctx: FillmaskContext) -> Facts:
    with workers() as joined:
        return _train(ctx, joined)


def _train(ctx: FillmaskContext, joined: Workers) -> Facts:
    cfg, evaluate = ctx.config.train, ctx.config.evaluate
    seed_everything(cfg.seed, cfg.threads)
    prepared, out, reports = ctx.paths.prepared, ctx.paths.models, ctx.paths.reports
    train_lines, dev_lines = load_split(prepared, "train"), load_split(prepared, "dev")
    data_sha = str(prepared_facts(prepared)["source_sha256"])
    source = ctx.config.data.source
    cased, tokenizer, vocab, cache, data, model = build(train_lines, cfg, joined)
    model_cfg = model.cfg
    dev = examples(dev_lines, evaluate.dev_positions, evaluate.seed + 1)
    unseen_dev = examples(load_split(prepared, "unseen_dev"), evaluate.unseen_dev_positions, evaluate.seed + 2)
    checkpoint = Checkpoint(
        ctx.settings.checkpoints(ctx.component), fingerprint(cfg.model_dump(mode="json"), data_sha), joined
    )
    resumed = checkpoint.load() if joined.main else None
    precision = precision_here(checkpoint, resumed, cfg.precision, model_cfg.dim)
    minutes = ctx.settings.checkpoint_minutes
    if not joined.main:  # a helper: its gradients count, rank 0 reports and exports
        fit(model, data, dev, cache, vocab, cfg, precision, None, checkpoint, minutes)
        return {"rank": joined.rank, "workers": joined.world}
    out.mkdir(parents=True, exist_ok=True)
    reports.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / TOKENIZER_FILE))
    vocab.save(out)
    logged = {"train": cfg, "data": ctx.config.data}
    with training(
        ctx,
        checkpoint,
        resumed,
        data_sha=data_sha,
        logged=logged,
        tags={"data.source": source},
        step="step",
        epoch_metrics=epoch_metrics,
    ) as shell:
        import mlflow

        mlflow.log_params(
            {
                "model.parameters": n_params(model),
                "data.train_windows": len(data),
                "data.word_vocabulary": len(vocab.words),
                "data.subword_vocabulary": model_cfg.vocab_size,
            }
        )
        mlflow.log_param("train.precision_used", precision)
        with shell.measured():
            state, history = fit(
                model,
                data,
                dev,
                cache,
                vocab,
                cfg,
                precision,
                on_step=lambda row, step: mlflow.log_metrics(row, step=step),
                checkpoint=shell.checkpoint,
                checkpoint_minutes=minutes,
            )
        model.load_state_dict(state)
        shell.curves(history)

        provenance = {"run_id": shell.run_id, "data_sha256": data_sha, "data_source": source}
        ngram = NgramModel.fit(
            (vocab.ids([w.lower() for w in ws]) for ws in cased), len(vocab.words), evaluate.ngram.discount
        )
        ngram.save(out / NGRAM_FILE)
        settings: dict[str, Any] = {
            "max_tokens": model_cfg.max_tokens,
            "model": model_cfg.as_dict(),
            "ngram_weight": 0.0,
        }
        files = export(model, out, {"farga.provenance": provenance, METADATA_KEY: settings}, cfg.export.quantize)
        save_network(model, out / NETWORK_FILE)
        mixture = choose_ngram_weight(out, dev, unseen_dev)
        settings["ngram_weight"] = mixture.ngram_weight
        for graph in {files["model"], files.get("float_model", files["model"])}:  # both serve the same mixture
            set_metadata(graph, {METADATA_KEY: settings})
        write_json(out / "mixture.json", asdict(mixture))
        extra = [out / TOKENIZER_FILE, out / WORDS_FILE, out / NGRAM_FILE, out / "mixture.json"]
        published = shell.publish(files, extra, ["onnxruntime", "numpy", "tokenizers"], provenance)
        best = max(history, key=lambda r: r["val_top1"])
        summary: Facts = {
            **published,
            "quantization": cfg.export.quantize,
            "precision": precision,
            "parameters": n_params(model),
            "train_seconds": round(shell.seconds, 1),
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
            "data_sha256": data_sha,
            "energy": shell.energy,
            "train_windows": len(data),
            "word_vocabulary": len(vocab.words),
            "subword_vocabulary": model_cfg.vocab_size,
        }
        mlflow.log_metrics(
            {"train_seconds": shell.seconds, "best_dev_top1": best["val_top1"], "ngram_weight": mixture.ngram_weight}
        )
    return shell.finish(summary, history)
