"""Unit tests of the fillmask building blocks: words, vocabularies, the trigram model, masking, scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from farga.fillmask.fit import learning_rate, make_optimizer, train_step
from farga.fillmask.loss import StepLoss, sampled_softmax_loss
from farga.fillmask.model import MASK as MASK_ID
from farga.fillmask.model import PAD, FillMaskModel, ModelConfig, attention, load_network, save_network
from farga.fillmask.ngram import BOS, EOS, NgramModel, context
from farga.fillmask.params import Network, Train
from farga.fillmask.schemas import FeedbackRequest, PredictRequest
from farga.fillmask.scoring import Example, accuracy, examples, groups_of, hits, report, slices
from farga.fillmask.sources import SOURCES, genre_of
from farga.fillmask.text import MASK, is_word, split
from farga.fillmask.vocab import SubwordCache, WordVocab, train_tokenizer
from farga.fillmask.windows import Window, batches, encode
from farga.precision import resolve_precision
from support import REPO, config_of

pytestmark = pytest.mark.code

CORPUS = [
    "De tant en tant la Maria va a Girona.",
    "De tant en tant el Joan va a Lleida.",
    "La casa és gran i la ciutat és petita.",
    "Les cases són grans i les ciutats són petites.",
    "El Joan diu que la casa és gran.",
] * 4


def train_params(**overrides: object) -> Train:
    """The repository's fillmask.train block with ``overrides``, checked as the stage gets it."""
    return Train.model_validate({**config_of(REPO, "fillmask").train.model_dump(), **overrides})


def vocab() -> WordVocab:
    return WordVocab.build([split(line, lower=False) for line in CORPUS], max_size=100, min_count=2)


def test_word_vocabulary_keeps_frequent_words_in_their_usual_spelling():
    v = vocab()
    assert v.words[:3] == ["<unk>", "<s>", "</s>"]
    assert "maria" in v.words
    assert v.display[v.index["maria"]] == "Maria"
    assert v.display[v.index["la"]] == "la"  # "La" starts sentences, "la" is more frequent
    predictable = v.predictable
    assert predictable[v.index["casa"]]
    assert not predictable[v.index["."]]
    assert not predictable[0]
    assert v.ids(["casa", "inexistent"]).tolist() == [v.index["casa"], 0]


def test_the_trigram_model_is_a_distribution_that_learns_fixed_expressions():
    v = vocab()
    sentences = [v.ids(split(line)) for line in CORPUS]
    model = NgramModel.fit(sentences, len(v.words), discount=0.75)
    words = split(f"de tant en {MASK} la maria va a girona .")
    ctx = context(v.ids(words).tolist(), words.index(MASK))
    lp = model.log_probs([ctx], v.predictable)[0]
    assert np.isclose(np.exp(lp[v.predictable]).sum(), 1.0)
    assert v.words[int(np.argmax(lp))] == "tant"
    assert np.isneginf(lp[v.index["."]])  # punctuation is never offered
    plural = split(f"les cases són {MASK} i les ciutats són petites .")
    lp = model.log_probs([context(v.ids(plural).tolist(), plural.index(MASK))], v.predictable)[0]
    assert lp[v.index["grans"]] > lp[v.index["gran"]]


def test_context_pads_sentence_boundaries():
    assert context([5, 6, 7], 0) == (BOS, BOS, 6, 7)
    assert context([5, 6, 7], 2) == (5, 6, EOS, EOS)


def test_the_ngram_model_survives_a_save_and_load(tmp_path):
    v = vocab()
    model = NgramModel.fit([v.ids(split(line)) for line in CORPUS], len(v.words), 0.75)
    again = NgramModel.load(model.save(tmp_path / "ngram.npz"))
    ctx = (BOS, v.index["de"], v.index["en"], v.index["tant"])
    assert np.allclose(model.window_scores(*ctx), again.window_scores(*ctx))


def test_a_masked_word_is_one_mask_token_whatever_its_length():
    ids, spans = encode([[10, 11], [12, 13, 14], [15]], masked=[1])
    assert ids == [10, 11, MASK_ID, 15]
    assert spans == [(0, 2), (2, 3), (3, 4)]


# word j of a window is token 100 + j with target j + 1
WINDOWS = [Window([[100 + j] for j in range(n)], np.arange(1, n + 1), np.arange(n)) for n in [3, 9, 4, 12, 6, 5]]


def test_an_mlm_epoch_predicts_the_masked_words_of_every_window_once():
    seen = 0
    for ids, starts, ends, targets in batches(WINDOWS, 24, mask_fraction=0.34, rng=np.random.default_rng(0)):
        assert ids.shape[0] * ids.shape[1] <= 24 or ids.shape[0] == 1
        predicted = targets != -100
        assert (ids.gather(1, starts)[predicted] == MASK_ID).all()
        assert ((ends - starts)[predicted] == 1).all()
        seen += ids.shape[0]
    assert seen == len(WINDOWS)


def test_a_cloze_epoch_predicts_words_that_mostly_stay_in_the_input():
    kept = total = 0
    rng = np.random.default_rng(0)
    for ids, starts, ends, targets in batches(WINDOWS, 24, mask_fraction=0.1, rng=rng, predict_fraction=0.5):
        predicted = targets != -100
        # every target is the word its span covers: its own token, or a <mask> standing for it
        covered = ids.gather(1, starts)[predicted]
        assert ((covered == MASK_ID) | (covered == targets[predicted] + 99)).all()
        assert ((ends - starts)[predicted] == 1).all()  # one token per word here
        kept += int((covered != MASK_ID).sum())
        total += int(predicted.sum())
    assert total >= sum(round(0.5 * w.targets.size) for w in WINDOWS)
    assert kept > total / 2


def test_a_training_step_moves_the_weights_at_the_scheduled_rate():
    torch.manual_seed(0)
    shape = {"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "dropout": 0.0, "architecture": "cloze"}
    model = FillMaskModel(ModelConfig(40, 20, 16, **shape))
    opt = make_optimizer(model, train_params(lr=1e-2, weight_decay=0.01))
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-2, 1e-2])
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]  # none on biases, norms, positions
    starts = torch.tensor([[0, 2], [1, 3]])
    batch = (torch.randint(3, 40, (2, 6)), starts, starts + 1, torch.randint(3, 20, (2, 2)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_step(StepLoss(model, torch.ones(20) / 20, draws=0, bf16=False), opt, batch)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_clipping_keeps_the_mask_inside_the_token_budget():
    ex = Example([f"w{i}" for i in range(30)], 25)
    clipped = ex.clipped(lambda w: 2, max_tokens=11)
    assert clipped.target == "w25"
    assert clipped.words == ["w23", "w24", "w25", "w26", "w27", "w28"]  # the mask (1 token) + 5 words of 2


def test_examples_are_seeded_and_never_mask_punctuation():
    a, b = examples(CORPUS, 10, seed=3), examples(CORPUS, 10, seed=3)
    assert [(x.words, x.position) for x in a] == [(x.words, x.position) for x in b]
    assert all(is_word(x.target) for x in a)


def test_examples_say_which_line_they_come_from_and_clipping_keeps_it():
    lines = [f"frase {i} de prova amb cinc paraules ." for i in range(6)]
    for ex in examples(lines, 4, seed=1) + examples(lines, 3, seed=2, per_line=2):
        assert ex.words == split(lines[ex.line])
        assert ex.clipped(lambda w: 1, max_tokens=3).line == ex.line


def test_report_adds_a_slice_family_from_any_per_example_label():
    v = vocab()
    ids = [v.index["la"], v.index["casa"], v.index["la"]]
    lp = np.full((3, len(v.words)), -20.0)
    lp[0, ids[0]] = lp[1, ids[0]] = lp[2, ids[1]] = 0.0  # right, wrong, wrong
    genres = groups_of(["news", "literature", "news"])
    assert genres["news"].tolist() == [True, False, True]
    out = report(lp, np.array(ids), v, {"by_genre": genres})
    assert out["by_genre"]["news"]["top1"] == 0.5
    assert out["by_genre"]["news"]["share"] == pytest.approx(2 / 3)
    assert out["by_genre"]["literature"]["top1"] == 0.0
    assert set(out) >= {"by_class", "by_frequency", "by_genre"}


def test_every_corpus_source_has_a_genre_and_an_unknown_source_is_its_own():
    genres = {genre_of(s.name) for s in SOURCES}
    assert genres == {"news", "reference", "administration", "literature", "conversation", "software"}
    assert genre_of("docs_gimp_help") == "software"
    assert genre_of("synthetic") == "synthetic"


def test_several_words_per_line_are_distinct_seeded_words_of_the_same_lines():
    lines = CORPUS[:5]  # five different lines
    a = examples(lines, 5, seed=4, per_line=3)
    assert [(x.words, x.position) for x in a] == [(x.words, x.position) for x in examples(lines, 5, 4, per_line=3)]
    assert len(a) == 15
    assert len({(" ".join(x.words), x.position) for x in a}) == 15
    assert all(is_word(x.target) for x in a)
    assert {" ".join(x.words) for x in examples(lines, 5, seed=4)} == {" ".join(x.words) for x in a}


def test_hits_say_which_examples_are_right_first_or_in_the_top_k():
    lp = np.log(np.array([[0.1, 0.0, 0.0, 0.6, 0.3], [0.1, 0.0, 0.0, 0.3, 0.6], [0.5, 0.0, 0.0, 0.2, 0.3]]) + 1e-12)
    right = hits(lp, np.array([3, 3, 0]), k=2)
    assert right.tolist() == [[True, True], [False, True], [False, False]]  # id 0: unknown, never right


def test_accuracy_counts_unknown_words_as_misses():
    lp = np.log(np.array([[0.1, 0.0, 0.0, 0.6, 0.3], [0.1, 0.0, 0.0, 0.3, 0.6]]) + 1e-12)
    out = accuracy(lp, np.array([3, 0]))
    assert out["top1"] == 0.5
    assert out["top5"] == 0.5
    assert np.isclose(out["perplexity"], 1 / 0.6, rtol=1e-6)


def test_slices_split_function_and_content_words():
    v = vocab()
    groups = slices(np.array([v.index["la"], v.index["casa"], 0]), v)
    assert groups["by_class"]["function"].tolist() == [True, False, False]
    assert groups["by_frequency"]["out_of_vocabulary"].tolist() == [False, False, True]


def test_learning_rate_warms_up_then_decays_to_zero():
    cfg = train_params(lr=1.0, warmup_fraction=0.1)
    assert learning_rate(0.05, cfg) == pytest.approx(0.5)
    assert learning_rate(0.1, cfg) == pytest.approx(1.0)
    assert learning_rate(1.0, cfg) == pytest.approx(0.0)


def test_the_model_scores_masks_and_ignores_padding():
    torch.manual_seed(0)
    model = FillMaskModel(ModelConfig(50, 20, 16, dim=16, layers=1, heads=2, ffn=32, dropout=0.0)).eval()
    ids = torch.tensor([[5, MASK_ID, 7, PAD, PAD]])
    out = model(ids, torch.tensor([[1]]))
    assert out.shape == (1, 1, 20)
    assert torch.allclose(out.exp().sum(-1), torch.ones(1, 1))
    unpadded = model(ids[:, :3], torch.tensor([[1]]))
    assert torch.allclose(out, unpadded, atol=1e-5)


def cloze_model() -> FillMaskModel:
    torch.manual_seed(0)
    cfg = ModelConfig(50, 20, 16, dim=16, layers=2, heads=2, ffn=32, dropout=0.0, tied=True, architecture="cloze")
    model = FillMaskModel(cfg, [[5 + i] for i in range(20)])
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.5)
    return model.eval()


def test_a_cloze_word_is_predicted_from_its_neighbours_only():
    model = cloze_model()
    ids = torch.tensor([[5, 6, 7, 8, 9, PAD, PAD]])
    spans = torch.tensor([[1, 2]]), torch.tensor([[3, 4]])  # the words at tokens [1, 3) and [2, 4)
    out = model.word_logits(ids, *spans)
    changed = ids.clone()
    changed[0, 2] = 30  # a token inside both words: neither prediction may see it
    assert torch.allclose(out, model.word_logits(changed, *spans))
    changed[0, 0] = 31  # a token the first word's left tower reads
    assert not torch.allclose(out[0, 0], model.word_logits(changed, *spans)[0, 0])


def test_a_cloze_mask_is_scored_the_same_with_or_without_padding():
    model = cloze_model()
    ids = torch.tensor([[5, MASK_ID, 7, PAD, PAD]])
    out = model(ids, torch.tensor([[1]]))
    assert torch.allclose(out.exp().sum(-1), torch.ones(1, 1))
    assert torch.allclose(out, model(ids[:, :3], torch.tensor([[1]])), atol=1e-5)
    last = model(ids[:, :3], torch.tensor([[2]]))  # the last word: the right tower's end state
    assert torch.allclose(last, model(ids, torch.tensor([[2]])), atol=1e-5)


def predicted_words(model: FillMaskModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Head states of three predicted words in two windows (one slot padding), and their targets."""
    ids = torch.tensor([[5, 6, 7, 8, 9], [9, 8, 7, PAD, PAD]])
    starts, ends = torch.tensor([[1, 2], [1, 0]]), torch.tensor([[2, 3], [2, 1]])
    targets = torch.tensor([[3, 7], [11, -100]])  # -100: padding, not a word
    return model.word_states(ids, starts, ends), targets


def test_the_sampled_softmax_is_the_full_softmax_when_every_word_is_drawn():
    model = cloze_model()
    states, targets = predicted_words(model)
    full = torch.nn.functional.cross_entropy(model.score(states).flatten(0, 1), targets.flatten(), ignore_index=-100)
    uniform = torch.full((20,), 1 / 20)
    torch.manual_seed(0)
    assert torch.allclose(sampled_softmax_loss(model, states, targets, uniform, 2000), full, atol=1e-4)
    torch.manual_seed(0)
    few = sampled_softmax_loss(model, states, targets, uniform, 3)  # a handful of rivals: an estimate
    assert torch.isfinite(few)
    assert not torch.allclose(few, full, atol=1e-4)


def test_the_sampled_softmax_gradient_is_the_full_softmax_gradient_when_every_word_is_drawn():
    model = cloze_model()
    computed, targets = predicted_words(model)
    grads = []
    for sampled in (True, False):
        states = computed.detach().requires_grad_()
        if sampled:
            torch.manual_seed(0)
            loss = sampled_softmax_loss(model, states, targets, torch.full((20,), 1 / 20), 2000)
        else:
            loss = torch.nn.functional.cross_entropy(
                model.score(states).flatten(0, 1), targets.flatten(), ignore_index=-100
            )
        loss.backward()
        grads.append(states.grad)
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_the_written_out_attention_is_torch_attention():
    q, k, v = torch.randn(3, 2, 4, 7, 8).unbind(0)
    keep = (torch.arange(7)[:, None] >= torch.arange(7)[None, :])[None, None] & (torch.arange(7) < 5)[None, None, None]
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    assert torch.allclose(attention(q, k, v, keep, 0.0), expected, atol=1e-5)


def test_a_saved_network_loads_back_scoring_the_same(tmp_path):
    model = cloze_model()
    ids, positions = torch.tensor([[5, 6, MASK_ID, 8, 9]]), torch.tensor([[2]])
    expected = model(ids, positions)
    loaded = load_network(save_network(model, tmp_path / "network.pt"))
    assert not loaded.composed
    assert torch.allclose(loaded(ids, positions), expected, atol=1e-5)


def test_an_unknown_architecture_is_refused():
    network = {"dim": 8, "layers": 1, "heads": 1, "ffn": 8, "dropout": 0.0, "tied": False, "architecture": "gpt"}
    with pytest.raises(ValueError, match="cloze"):
        Network.model_validate(network)
    built = ModelConfig.from_params(50, 20, 16, Network.model_validate({**network, "architecture": "mlm"}))
    assert (built.dim, built.architecture) == (8, "mlm")


def test_the_tokenizer_splits_unknown_words_into_pieces():
    tok = train_tokenizer([split(line) for line in CORPUS], "wordpiece", 200)
    cache = SubwordCache(tok)
    assert cache(MASK) == [MASK_ID]
    assert cache("casaes") == [*cache("casa"), tok.token_to_id("##es")]


@pytest.mark.parametrize(
    ("text", "message"),
    [("No hi ha cap marcador.", "no <mask>"), (" ".join(["<mask>"] * 6), "at most 5"), ("x" * 1001 + "<mask>", "1000")],
)
def test_requests_without_a_mask_or_with_too_many_are_refused(text, message):
    with pytest.raises(ValidationError, match=message):
        PredictRequest(text=text)


def test_feedback_needs_one_word_per_entry():
    with pytest.raises(ValidationError, match="one word"):
        FeedbackRequest(prediction_id="0" * 32, words=["dues paraules"])
    assert FeedbackRequest(prediction_id="0" * 32, words=[" Barcelona "]).words == ["Barcelona"]


def test_training_precision_is_bf16_fp32_or_measured():
    assert resolve_precision("fp32", 64) == "fp32"
    assert resolve_precision("bf16", 64) == "bf16"
    assert resolve_precision("auto", 64) in ("bf16", "fp32")
    with pytest.raises(ValueError, match="'auto', 'bf16' or 'fp32'"):  # the params model refuses another
        train_params(precision="fp16")
