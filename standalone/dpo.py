"""DPO, Direct Preference Optimization, in one file that depends on torch only.

Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is Secretly a Reward
Model", eq. 7. RLHF maximises E[r(x, y)] - beta KL(pi || pi_ref); its optimum satisfies
r(x, y) = beta log(pi(y|x) / pi_ref(y|x)) + beta log Z(x). Substituted into the Bradley-Terry
model P(y_w > y_l | x) = sigmoid(r(x, y_w) - r(x, y_l)), Z(x) cancels, and maximum likelihood
on preference pairs (x, chosen y_w, rejected y_l) is the loss

    L_DPO = - E log sigmoid( beta [ (log pi(y_w|x) - log pi_ref(y_w|x))
                                    - (log pi(y_l|x) - log pi_ref(y_l|x)) ] )

where log pi(y|x) is the log-probability of the WHOLE response: a SUM over its tokens (the EOS
that ends it included), not a mean. beta (log pi - log pi_ref) is the response's implicit reward.

DPO is offline: no sampling, no reward model, no critic. The reference only enters through
log pi_ref(y|x) of the fixed pairs, so train_dpo computes those ONCE, before the first step,
and keeps no second model in memory (when ref_policy is None, the policy itself, untouched yet,
is the reference). Nothing in the loss stops log pi(y_w|x) from falling too, as long as
log pi(y_l|x) falls faster; watch the chosen log-probs.

Which pairs, which beta. Offline pairs of someone else's making (the right answer against a
corrupted one) at beta = 0.1 can LOWER a model's accuracy: every pair keeps pushing with weight
sigmoid(-beta h), won or not, and the cheap way to widen every margin is to push the rejected
answers down, freeing probability that goes anywhere. The defaults here are what improves a
model: on-policy pairs (`on_policy_pairs`: the policy's own wrong samples against the right
answer) and beta = 3, at which a won pair's weight is near 0 and the gradient comes from the
pairs still ranked wrongly.

The policy is any callable tokens (B, T) -> logits (B, T, V): a causal LM. A sequence is
prompt ids + response ids + EOS, right-padded with pad_id; a causal model never sees the padding
from the positions that are scored, so no attention mask is needed.
Dropout makes log-probs noisy: put your model in eval mode (model.eval()) before training.
"""
from __future__ import annotations

import random
import time

import torch
import torch.nn.functional as F


# --- the pure loss functions ------------------------------------------------------------------
def dpo_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta: float = 3.0):
    """Sigmoid DPO loss (eq. 7). All inputs (B,): sequence log-probs (sums over response tokens)
    under the policy (pi_*, with grad) and the reference (ref_*).
    -> (loss, chosen_rewards (B,), rejected_rewards (B,)), the rewards being the detached
    beta (log pi - log pi_ref)."""
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    chosen_logratio = pi_chosen - ref_chosen                                # (B,)
    rejected_logratio = pi_rejected - ref_rejected                          # (B,)
    logits = beta * (chosen_logratio - rejected_logratio)                   # (B,)
    loss = -F.logsigmoid(logits).mean()                                     # logsigmoid: stable
    return loss, (beta * chosen_logratio).detach(), (beta * rejected_logratio).detach()


def sequence_logprobs(policy, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """tokens (B, T), mask (B, T-1) over the response tokens -> log pi(response | prompt), (B,)."""
    logits = policy(tokens[:, :-1])                                         # (B, T-1, V)
    logp = torch.log_softmax(logits.float(), dim=-1)                        # (B, T-1, V)
    logp = logp.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)         # (B, T-1)
    return (logp * mask).sum(dim=1)                                         # (B,), a SUM


# --- data -----------------------------------------------------------------------------------------
def encode_pairs(pairs, encode, eos_id: int, encode_response=None):
    """[(prompt, chosen, rejected)] -> (chosen seqs, rejected seqs), each a list of (ids, start):
    ids = prompt + response + EOS token ids, start = the index of the first response token."""
    encode_response = encode_response or encode
    chosen, rejected = [], []
    for prompt, good, bad in pairs:
        if good == bad:
            raise ValueError(f"pair for prompt {prompt!r} has identical chosen and rejected "
                             "responses")
        p = list(encode(prompt))
        if not p:
            raise ValueError("every prompt must encode to at least one token (e.g. a BOS)")
        chosen.append((p + list(encode_response(good)) + [eos_id], len(p)))
        rejected.append((p + list(encode_response(bad)) + [eos_id], len(p)))
    return chosen, rejected


def collate(seqs: list, pad_id: int, device="cpu"):
    """[(ids, start)] -> tokens (B, T) right-padded with pad_id, mask (B, T-1) over the
    response and its EOS."""
    T = max(len(ids) for ids, _ in seqs)
    tokens = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), T - 1)
    for b, (ids, start) in enumerate(seqs):
        tokens[b, :len(ids)] = torch.tensor(ids)
        mask[b, start - 1:len(ids) - 1] = 1                                 # scores tokens[:, t+1]
    return tokens.to(device), mask.to(device)


@torch.no_grad()
def dataset_logprobs(policy, seqs: list, pad_id: int, batch_size: int = 64,
                     device="cpu") -> torch.Tensor:
    """Sequence log-probs (N,) of encoded sequences under `policy`, in batches, without grad."""
    out = [sequence_logprobs(policy, *collate(seqs[i:i + batch_size], pad_id, device)).float()
           for i in range(0, len(seqs), batch_size)]
    return torch.cat(out)                                                   # (N,)


def pair_logprobs(policy, pairs, encode, eos_id: int, pad_id: int, encode_response=None,
                  batch_size: int = 64, device="cpu"):
    """-> (log pi(chosen|x) (N,), log pi(rejected|x) (N,)) for (prompt, chosen, rejected) pairs.
    Taken before and after training on held-out pairs, they give the implicit reward margins
    beta ((after_c - before_c) - (after_r - before_r)) that DPO should have made positive."""
    chosen, rejected = encode_pairs(pairs, encode, eos_id, encode_response)
    return (dataset_logprobs(policy, chosen, pad_id, batch_size, device),
            dataset_logprobs(policy, rejected, pad_id, batch_size, device))


# --- on-policy pairs: the policy's own mistakes against the right answer ----------------------
@torch.no_grad()
def sample(policy, prompt_ids: list, max_new_tokens: int, eos_id: int, pad_id: int,
           generator: torch.Generator | None = None, device="cpu") -> list:
    """Sample one completion per prompt (token-id lists) at temperature 1 -> a list of id lists,
    each cut before its EOS. Prompts are bucketed by length: no row sees padding before it."""
    out = [None] * len(prompt_ids)
    for length in sorted({len(p) for p in prompt_ids}):                     # one bucket per length
        idx = [i for i, p in enumerate(prompt_ids) if len(p) == length]
        x = torch.tensor([prompt_ids[i] for i in idx], dtype=torch.long, device=device)  # (b, L)
        done = torch.zeros(len(idx), dtype=torch.bool, device=device)       # (b,)
        for _ in range(max_new_tokens):
            probs = torch.softmax(policy(x)[:, -1].float(), dim=-1)         # (b, V)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)   # (b,)
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)      # finished rows: pad
            x = torch.cat([x, nxt[:, None]], dim=1)
            done = done | (nxt == eos_id)
            if bool(done.all()):
                break
        for j, i in enumerate(idx):
            ids = x[j, length:].tolist()
            out[i] = ids[:ids.index(eos_id)] if eos_id in ids else ids
    return out


def on_policy_pairs(policy, prompts, answer, encode, decode, eos_id: int, pad_id: int, *,
                    max_new_tokens: int, samples_per_prompt: int = 4, seed: int = 0,
                    device="cpu") -> list:
    """[(prompt, answer(prompt), a wrong answer the policy itself samples)]: one pair for each
    prompt with a wrong sample (chosen: the right answer; rejected: the first wrong sample).
    decode(ids) -> str may raise ValueError for ids that are no answer (e.g. special tokens):
    such samples are skipped. Prompts the policy always gets right give no pair."""
    gen = torch.Generator(device=device).manual_seed(seed)
    prompt_ids = [list(encode(p)) for p in prompts for _ in range(samples_per_prompt)]
    samples = sample(policy, prompt_ids, max_new_tokens, eos_id, pad_id, gen, device)
    pairs = []
    for i, prompt in enumerate(prompts):
        right = answer(prompt)
        for ids in samples[i * samples_per_prompt:(i + 1) * samples_per_prompt]:
            try:
                text = decode(ids)
            except ValueError:
                continue
            if text and text != right:
                pairs.append((prompt, right, text))
                break
    return pairs


# --- the training loop --------------------------------------------------------------------------
def train_dpo(policy, params, pairs, encode, eos_id: int, pad_id: int, *, ref_policy=None,
              encode_response=None, steps: int, batch_size: int, lr: float = 1e-4,
              beta: float = 3.0, grad_clip: float = 1.0, seed: int = 0, log=print,
              log_every: int = 10):
    """Train `policy` with DPO on fixed pairs; returns one dict of statistics per step.

    policy(tokens (B, T)) -> logits (B, T, V); params: the tensors to optimise (AdamW, constant lr);
    pairs: a list of (prompt, chosen, rejected) strings; encode(prompt) -> token ids (include any
    BOS yourself); encode_response(response) -> token ids without BOS (default: encode); EOS is
    appended to every response. ref_policy: the reference (default: the policy before training).
    log: called with a line of text every log_every steps, or None.
    """
    if steps < 1 or not 1 <= batch_size <= len(pairs):
        raise ValueError(f"need steps >= 1 and 1 <= batch_size <= len(pairs) = {len(pairs)}")
    params = [p for p in params]
    device = params[0].device
    chosen, rejected = encode_pairs(pairs, encode, eos_id, encode_response)
    # the reference log-probs of the whole dataset, once: no reference model during training
    ref = ref_policy if ref_policy is not None else policy
    ref_chosen = dataset_logprobs(ref, chosen, pad_id, batch_size, device)             # (N,)
    ref_rejected = dataset_logprobs(ref, rejected, pad_id, batch_size, device)         # (N,)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = random.Random(seed)
    history = []
    for step in range(steps):
        t0 = time.perf_counter()
        idx = rng.sample(range(len(pairs)), batch_size)                     # B pairs, no repeats
        seqs = [chosen[i] for i in idx] + [rejected[i] for i in idx]
        tokens, mask = collate(seqs, pad_id, device)                        # (2B, T), (2B, T-1)
        logp = sequence_logprobs(policy, tokens, mask)                      # (2B,)
        pi_chosen, pi_rejected = logp[:batch_size], logp[batch_size:]       # (B,), (B,)
        loss, r_chosen, r_rejected = dpo_loss(pi_chosen, pi_rejected, ref_chosen[idx],
                                              ref_rejected[idx], beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = grad_clip if grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        optimizer.step()
        row = dict(step=step + 1, loss=loss.item(),
                   reward_margin=(r_chosen - r_rejected).mean().item(),
                   preference_accuracy=(r_chosen > r_rejected).float().mean().item(),
                   chosen_logp=pi_chosen.mean().item(), rejected_logp=pi_rejected.mean().item(),
                   grad_norm=float(grad_norm), seconds=time.perf_counter() - t0)
        history.append(row)
        if log is not None and ((step + 1) % log_every == 0 or step + 1 == steps):
            log(f"dpo step {step + 1}/{steps}  loss {row['loss']:.4f}  "
                f"margin {row['reward_margin']:+.3f}  pref acc {row['preference_accuracy']:.2f}  "
                f"log pi(chosen) {row['chosen_logp']:.2f}")
    return history
