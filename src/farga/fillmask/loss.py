"""A training step's loss: every word of a window predicted against a sampled softmax (the full one
over 40,000 words cost more than the rest of the step), inside the module DDP wraps."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from farga.fillmask.model import FillMaskModel
from farga.fillmask.vocab import WordVocab


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
