"""What the fillmask model and dataset cards say beyond the shared template, from the run's own files."""

from __future__ import annotations

from typing import Any

from farga.cards import Card, pct, table
from farga.config import StageContext
from farga.fillmask.sources import genre_of
from farga.hashing import read_json

ATTRIBUTION = (
    "Trained on Catalan text from public sources, each under its own licence (table in the dataset card): "
    "TeMU-BSC catalan_CC0_sentences (CC0); Softcatalà parallel-catalan-corpus (Global Voices, CC BY; "
    "Tatoeba, CC BY / CC0); Softcatalà web dataset (CC BY-SA 4.0); Catalan Wikipedia paragraphs via "
    "projecte-aina/club (CC BY-SA 4.0); Catalan help documentation of LibreOffice (MPL-2.0), GIMP (GFDL), "
    "GNOME (CC BY-SA 3.0) and Debian (GPL) as packaged by Debian."
)


def comparison_rows(models: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            name,
            pct(s["top1"]),
            pct(s["top5"]),
            f"{s['perplexity']:.1f}",
            pct(s["by_class"].get("function", {}).get("top1")),
            pct(s["by_class"].get("content", {}).get("top1")),
        )
        for name, s in models.items()
    ]


def genre_rows(models: dict[str, Any], bar: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per genre: its share, the trigram's and the served model's top-1 / top-5, and their ratios."""
    trigram, served = models.get("trigram", {}).get("by_genre", {}), models["served"].get("by_genre", {})
    return [
        (
            genre,
            pct(s["share"]),
            f"{pct(trigram[genre]['top1'])} / {pct(trigram[genre]['top5'])}",
            f"{pct(s['top1'])} / {pct(s['top5'])}",
            f"x{bar['by_genre'][genre]['served_vs_trigram_top1']:.2f} / "
            f"x{bar['by_genre'][genre]['served_vs_trigram_top5']:.2f}",
        )
        for genre, s in sorted(served.items(), key=lambda kv: -kv[1]["share"])
        if genre in trigram and genre in bar.get("by_genre", {})
    ]


def card_sections(ctx: StageContext, facts: dict[str, Any]) -> dict[str, Card]:
    paths = ctx.paths
    fetched = read_json(paths.raw / "fetch.json")
    prepared = read_json(paths.prepared / "prepare.json")
    contract = read_json(paths.reports / "validation.json")
    run, registry, bar = facts["run"], facts["registry"], facts["bar"]
    source = fetched["source"]
    cfg, data_cfg = ctx.params["train"], ctx.params["data"]
    dataset_name = "farga-catalan-2.8M" if source == "catalan" else "synthetic-catalan"
    served = facts["models"]["served"]
    bands = [(band, pct(s["top1"]), pct(s["share"])) for band, s in served["by_frequency"].items()]
    model = Card(
        header={
            "license": "apache-2.0",
            "language": ["ca"],
            "library_name": "onnx",
            "pipeline_tag": "fill-mask",
            "tags": ["catalan", "masked-language-model", "transformer", "farga"],
            "datasets": [dataset_name],
            "metrics": ["accuracy", "perplexity"],
            "model-index": [
                {
                    "name": f"farga-fillmask-v{registry['version']}",
                    "results": [
                        {
                            "task": {"type": "fill-mask", "name": "masked whole-word prediction"},
                            "dataset": {
                                "type": dataset_name,
                                "name": dataset_name,
                                "split": "validation (by document hash)",
                            },
                            "metrics": [
                                {"type": "accuracy", "name": "top-1 accuracy", "value": round(facts["val_top1"], 4)},
                                {"type": "accuracy", "name": "top-5 accuracy", "value": round(facts["val_top5"], 4)},
                                {
                                    "type": "perplexity",
                                    "name": "word perplexity",
                                    "value": round(facts["val_perplexity"], 2),
                                },
                            ],
                        }
                    ],
                }
            ],
        },
        title=f"fillmask v{registry['version']}: the missing word of a Catalan sentence",
    )
    m = cfg["model"]
    if m.get("architecture", "mlm") == "cloze":
        network = (
            f"two one-way transformer towers (left-to-right and right-to-left, {m['layers']} layers each, width "
            f"{m['dim']}, {m['heads']} heads) whose states just before and just after a word predict it"
        )
        masking = (
            f"Each window predicts {cfg['predict_fraction']:.0%} of its words, each from its clean neighbours (the "
            f"towers never see the word itself); {cfg['mask_fraction']:.0%} of the words read as one `<mask>` "
            f"each (whole words), as other masks of a sentence do"
        )
        if int(cfg.get("sampled_softmax", 0)):
            masking += (
                f"; the training loss is a sampled softmax ({int(cfg['sampled_softmax']):,} words drawn per step, "
                f"log-chance corrected), the served model scores every word"
            )
    else:
        network = f"a transformer encoder ({m['layers']} layers, width {m['dim']}, {m['heads']} heads)"
        masking = f"Whole-word masking of {cfg['mask_fraction']:.0%} of the words"
    model.sections = [
        (
            "Model",
            (
                f"A {run['parameters']:,}-parameter network, {network} (plain PyTorch, trained from scratch, "
                f"exported to ONNX with int8 weights), over a "
                f"{run['subword_vocabulary']:,}-token {cfg['tokenizer']['kind']} vocabulary (Hugging Face tokenizers), "
                f"with a head that predicts a whole word among {run['word_vocabulary']:,}. Each `<mask>` is one word. "
                f"Served as a log-linear mixture with the project's bidirectional trigram model, weight "
                f"{facts['ngram_weight']} on the trigram (chosen on the dev split; 0 = transformer alone). "
                f"Registry: model `fillmask` version {registry['version']}, aliases {registry['aliases']}. "
                f"MLflow run `{run['run_id']}`."
            ),
        ),
        (
            "Intended use",
            (
                "Suggest the word missing from a Catalan sentence (writing aids, language-learning exercises, "
                "a demonstration of the ML lifecycle). Not a source of facts: it completes text the way its "
                "training text reads, and it knows nothing after that text was collected."
            ),
        ),
        (
            "Training data",
            (
                f"{dataset_name}: {fetched['lines']:,} lines, {fetched['words']:,} words from {len(fetched['files'])} "
                f"files (see the dataset card); data sha256 `{run['data_sha256']}`. Splits by document hash: "
                f"{prepared['splits']}."
            ),
        ),
        (
            "Training",
            (
                f"{masking}; windows of at most {cfg['max_tokens']} tokens, "
                f"{run.get('precision', cfg.get('precision', 'fp32'))} matrix products "
                f"(`precision: {cfg.get('precision', 'fp32')}`), AdamW (lr {cfg['lr']}, weight decay "
                f"{cfg['weight_decay']}), warm-up then cosine decay, "
                f"{run['steps']:,} steps in {run['train_seconds'] / 60:.1f} min on {cfg['threads']} CPU threads "
                f"(budget "
                f"{cfg['max_minutes']} min). Best dev top-1 {pct(run['dev_top1'])} at epoch {run['best_epoch']}."
            ),
        ),
        (
            "Evaluation",
            (
                f"{facts['positions']:,} validation sentences, one word masked in each (seeded); right = the hidden "
                f"word, case-insensitive; {pct(facts['out_of_vocabulary'])} of hidden words are outside the word "
                "vocabulary and count as misses for every model. All four predictors in the same run:\n\n"
                + table(
                    comparison_rows(facts["models"]),
                    ("predictor", "top-1", "top-5", "perplexity", "function words", "content words"),
                )
                + f"\n\nThe transformer alone vs the trigram, top-1: x{bar['transformer_vs_trigram_top1']:.2f}; "
                f"served vs trigram: top-1 x{bar['served_vs_trigram_top1']:.2f}, "
                f"top-5 x{bar['served_vs_trigram_top5']:.2f}."
                "\n\nServed model by frequency band of the hidden word (rank in the training text):\n\n"
                + table(bands, ("band", "top-1", "share of examples"))
                + "\n\nBy genre of the text (top-1 / top-5; the trigram recalls repeated phrasing, which "
                "software help has most of):\n\n"
                + table(
                    genre_rows(facts["models"], bar),
                    ("genre", "share of examples", "trigram", "served", "served vs trigram"),
                )
                + "\n\nExamples with the served top-5: `val_examples.csv`; chart: `comparison.png`."
            ),
        ),
        ("Promotion", registry["reason"]),
        (
            "Energy",
            (
                f"Training used {run['energy']['energy_kwh'] * 1000:.1f} Wh "
                f"({run['energy']['emissions_kg_co2eq'] * 1000:.2f} "
                f"g CO2eq), measured with CodeCarbon's offline tracker: {run['energy']['caveat']}."
            ),
        ),
        (
            "Limitations",
            (
                "Lower-cased: answers are shown in their most frequent spelling. A word outside the "
                f"{run['word_vocabulary']:,}-word vocabulary can never be predicted. The text is news, literature, "
                "encyclopaedic sentences and software help: other registers (speech, social media) will do worse. "
                "The validation split comes from the same sources as training (split by document, not by source), "
                "so it measures in-domain accuracy. Biases of the sources (gender, places, topics) carry over."
            ),
        ),
        ("Attribution and licence", ATTRIBUTION),
    ]
    rows = [
        (
            f["file"],
            genre_of(f["file"].removesuffix(".txt.gz")),
            f.get("origin", "generated"),
            f.get("licence", "Apache-2.0"),
            f"{f['lines']:,}",
            f"{f['words']:,}",
            f"`{f['sha256'][:12]}`",
        )
        for f in fetched["files"]
    ]
    dataset = Card(
        header={
            "license": "other" if source == "catalan" else "apache-2.0",
            "language": ["ca"],
            "pretty_name": dataset_name,
            "task_categories": ["fill-mask"],
            "size_categories": ["100K<n<1M" if fetched["lines"] > 100_000 else "n<100K"],
            "source_datasets": ["original"] if source == "synthetic" else [row[0] for row in rows],
        },
        title=f"{dataset_name} as prepared by Farga",
        sections=[
            (
                "Sources and licences",
                (
                    f"Obtained from `{fetched['origin']}` (corpus sha256 `{fetched['sha256']}`), verified file by "
                    "file: "
                    "line and word counts equal to the published cleaned copy, gzip UTF-8, every line at least five "
                    "words, no URL or markup, no line in two files.\n\n"
                    + table(rows, ("file", "genre", "public source", "licence", "lines", "words", "sha256"))
                    + "\n\nEach file keeps its own licence; a model trained on them carries the attribution in its "
                    "card."
                ),
            ),
            (
                "Cleaning (upstream)",
                (
                    "Language identification (Catalan only), exact de-duplication across all files, lines of at least "
                    "five words that end in sentence punctuation, no markup or URLs. Sentences of a news treebank were "
                    "withheld for independent evaluation."
                ),
            ),
            (
                "Splits",
                (
                    f"By the sha256 of each line's lower-cased, whitespace-normalised text: val "
                    f"{data_cfg['val_fraction']:.0%}, dev {data_cfg['dev_fraction']:.0%}, the rest train. Lines that "
                    f"differ only in case share a hash, so they share a split. Sizes: {prepared['splits']} lines, "
                    f"{prepared['words']} words."
                ),
            ),
            (
                "Data contract",
                (
                    f"{contract['checks_run']} checks, {'all passed' if contract['ok'] else 'VIOLATED'}: schema (text, "
                    "source, hash, split), at least five words, no URL/markup, unique lines, every line in the split "
                    "its "
                    "hash assigns, split shares, every source in training, minimum training size."
                ),
            ),
            (
                "Known biases",
                (
                    "Help documentation (LibreOffice, GIMP, GNOME, Debian) is a quarter of the words and very "
                    "repetitive; news and crossword/literature sentences dominate the rest. Lines are sentences or "
                    "short paragraphs, not documents."
                ),
            ),
        ],
    )
    return {"model_card": model, "dataset_card": dataset}
