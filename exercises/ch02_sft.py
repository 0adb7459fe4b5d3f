"""Chapter 2 exercises: a causal language model and supervised fine-tuning.

Read chapters/02-tiny-gpt-and-sft.md first. Fill in each function below where it says
`raise NotImplementedError  # YOUR CODE HERE`; keep the names and signatures. Then grade with

    python -m minirl.grade 2

Only `math` and `torch` are needed. The shared conventions (docs/conventions.md, minirl/batches.py):

    tokens  (B, T)    [BOS] prompt response [EOS] [PAD ...]
    logits  (B, T, V) logits[:, t] = the model's scores for the token that comes after tokens[:, :t+1]
    mask    (B, T-1)  1 where tokens[:, t+1] is a response token (its EOS included), 0 elsewhere

The references are minirl.model.causal_mask, minirl.core.gather_logprobs, minirl.batches.token_logprobs,
and minirl.sft.sft_loss.
"""
import math  # noqa: F401  (you may find it useful)

import torch
import torch.nn.functional as F  # noqa: F401


def causal_mask(T: int) -> torch.Tensor:
    """The attention mask of a causal (decoder-only) transformer.

    Returns a boolean tensor of shape (T, T) with mask[t, s] = True where query position t may
    attend to key position s, i.e. where s <= t: every token sees itself and the past, never
    the future. Attention then uses scores.masked_fill(~mask, -inf) before the softmax.

    Example: causal_mask(3) ->
        [[True, False, False],
         [True, True,  False],
         [True, True,  True ]]
    Difficulty: ★☆☆
    Hint: torch.tril keeps the lower triangle of a matrix, its diagonal included.
    """
    raise NotImplementedError  # YOUR CODE HERE


def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The log-probability each row of logits gives its target token.

    logits  (B, T, V) unnormalised scores over the vocabulary (the last dimension);
    targets (B, T)    token ids in 0..V-1.

        out[b, t] = log softmax(logits[b, t])[targets[b, t]]
                  = logits[b, t, y] - log sum_v exp(logits[b, t, v]),   y = targets[b, t]

    Returns (B, T) floats, each <= 0, differentiable w.r.t. logits and finite even for logits
    like 1000 (torch.log_softmax is stable; exp(1000) overflows) and for very unlikely targets:
    logits [0, -200] give log pi(1) = -200, whereas log(softmax(...)) underflows to log 0 = -inf.
    The result is float32 even for bfloat16 or float16 logits (upcast with .float() before the
    log-softmax: the probability ratios of chapters 5 and 7 need the precision). Hint: torch.gather.
    Difficulty: ★☆☆
    """
    raise NotImplementedError  # YOUR CODE HERE


def token_logprobs(model, tokens: torch.Tensor) -> torch.Tensor:
    """Per-token log-probabilities of a whole sequence under a causal language model.

    model   a callable: ids (B, L) -> logits (B, L, V), where logits[:, t] predicts the token
            after position t (it only looks at ids[:, :t+1]). Call it once on the batch.
    tokens  (B, T) token ids.

        out[:, t] = log pi(tokens[:, t+1] | tokens[:, :t+1]),   t = 0 .. T-2

    The first token has no prediction and the last logits predict nothing we know, so the
    result has shape (B, T-1). Hint: feed tokens[:, :-1], score the targets tokens[:, 1:]
    (gather_logprobs above). Keep the gradient: training back-propagates through this. One call
    of the model, not one per prefix: causal attention gives every prefix's prediction at once.
    Difficulty: ★★☆
    """
    raise NotImplementedError  # YOUR CODE HERE


def sft_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked next-token cross-entropy: the SFT objective.

    logits  (B, T-1, V) = model(tokens[:, :-1])  (already shifted: do not shift again)
    targets (B, T-1)    = tokens[:, 1:]
    mask    (B, T-1)    1.0 on response tokens (the ones to imitate), 0.0 on prompt and padding.

        L = - (1 / sum(mask)) * sum_{b,t} mask[b,t] * log softmax(logits[b,t])[targets[b,t]]

    i.e. the mean over the masked tokens of the whole batch (not over rows, not over all
    positions). Returns a scalar tensor (shape ()), differentiable w.r.t. logits; if the mask
    is all zero, return 0 (not NaN). Finite for extreme logits in both directions (a target with
    logit -200 below the rest costs 200, not inf: use log_softmax or F.cross_entropy, never
    log(softmax)). Do not modify the inputs.
    Difficulty: ★★☆
    Hint: F.cross_entropy(..., reduction="none") wants (N, V) logits and (N,) targets: flatten the
    batch and time dimensions, then take the masked mean yourself.
    """
    raise NotImplementedError  # YOUR CODE HERE
