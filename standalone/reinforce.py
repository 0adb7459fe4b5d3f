"""REINFORCE with a baseline, in one file that depends on torch only.

Williams 1992, "Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement
Learning" (the likelihood-ratio gradient with a reinforcement baseline). For a prompt x, sample a
completion a_0..a_{T-1} from pi_theta, score it with a reward function, and follow

    grad J = E[ sum_t grad log pi_theta(a_t | s_t) * (G_t - b) ]
    G_t    = sum_{k >= 0} gamma^k r_{t+k}          the return-to-go (the score sits on the last
                                                   action, so with gamma = 1 every token of a
                                                   completion gets the completion's score)

The baseline b does not depend on the action, so it changes no expectation (E[grad log pi] = 0);
a b close to E[G] shrinks the variance. Here b is a running mean of past returns,

    b <- decay * b + (1 - decay) * mean(G over this batch's actions)

updated AFTER the batch is scored, so b never depends on the actions it scores. The surrogate
whose gradient is that estimate (A = G - b, a constant) is a mean over the batch's actions:

    L(theta) = - (1 / |A|) sum_{(b,t) in actions} log pi_theta(a_bt | s_bt) * A_bt

The policy is any callable tokens (B, T) -> logits (B, T, V): a causal LM. Sampling is a plain
loop that re-runs the full forward for every new token (no KV cache is assumed). Prompts are
bucketed by token length and each bucket is sampled on its own, so no row ever sees padding in
front of it. Dropout makes log-probs noisy: put your model in eval mode (model.eval()) first.
"""
from __future__ import annotations

import random
import time

import torch


# --- the pure functions -------------------------------------------------------------------------
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over the entries where mask is 1 (0 for an empty mask), a 0-dim tensor."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """rewards, mask (B, T-1) -> returns-to-go G_t (B, T-1), 0 off the mask. The actions of a row
    are contiguous, so G_t = r_t + gamma G_{t+1} is one product with a discount matrix."""
    n = rewards.size(-1)
    idx = torch.arange(n, device=rewards.device)
    power = (idx[:, None] - idx[None, :]).clamp(min=0).to(rewards.dtype)    # (T-1, T-1): j - t
    discount = torch.where(idx[:, None] >= idx[None, :], gamma ** power, 0.0)
    return ((rewards * mask) @ discount) * mask                             # (B, T-1)


def reinforce_loss(logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor):
    """- mean over actions of log pi(a_t | s_t) * A_t. logp (B, T-1) with grad; advantages
    (B, T-1) are constants (detached here); mask (B, T-1), 1 on the sampled tokens."""
    return -masked_mean(logp * advantages.detach(), mask)


def update_baseline(baseline: float, returns: torch.Tensor, mask: torch.Tensor,
                    decay: float = 0.9) -> float:
    """Running mean of the return: decay * b + (1 - decay) * (mean of G over the actions)."""
    return decay * baseline + (1 - decay) * float(masked_mean(returns, mask))


def token_logprobs(policy, tokens: torch.Tensor) -> torch.Tensor:
    """tokens (B, T) -> (B, T-1): log pi(tokens[:, t+1] | tokens[:, :t+1])."""
    logits = policy(tokens[:, :-1])                                         # (B, T-1, V)
    logp = torch.log_softmax(logits.float(), dim=-1)                        # (B, T-1, V)
    return logp.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)         # (B, T-1)


# --- sampling -----------------------------------------------------------------------------------
@torch.no_grad()
def sample(policy, prompt_ids: list, max_new_tokens: int, eos_id: int, pad_id: int,
           temperature: float = 1.0, generator: torch.Generator | None = None, device="cpu"):
    """Sample a completion for each prompt (a list of token-id lists).

    -> tokens (B, T) = prompt, completion (ending in EOS unless cut at max_new_tokens), pad_id...
       mask (B, T-1): mask[b, t] = 1 iff tokens[b, t+1] was sampled (an action, EOS included).
    """
    if any(len(p) == 0 for p in prompt_ids):
        raise ValueError("every prompt must encode to at least one token (e.g. a BOS)")
    rows = [None] * len(prompt_ids)
    for length in sorted({len(p) for p in prompt_ids}):                     # one bucket per length
        idx = [i for i, p in enumerate(prompt_ids) if len(p) == length]
        x = torch.tensor([prompt_ids[i] for i in idx], dtype=torch.long, device=device)  # (b, L)
        done = torch.zeros(len(idx), dtype=torch.bool, device=device)       # (b,)
        for _ in range(max_new_tokens):
            logits = policy(x)[:, -1].float() / temperature                 # (b, V)
            probs = torch.softmax(logits, dim=-1)                           # (b, V)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)   # (b,)
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)      # finished rows: pad
            x = torch.cat([x, nxt[:, None]], dim=1)
            done = done | (nxt == eos_id)
            if bool(done.all()):
                break
        for j, i in enumerate(idx):
            rows[i] = x[j].tolist()
    T = max(len(r) for r in rows)
    tokens = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), T - 1)
    for b, (row, p) in enumerate(zip(rows, prompt_ids)):
        completion = row[len(p):]
        n = completion.index(eos_id) + 1 if eos_id in completion else len(completion)
        tokens[b, :len(p) + n] = torch.tensor(row[:len(p) + n])
        mask[b, len(p) - 1:len(p) - 1 + n] = 1                              # tokens p .. p+n-1
    return tokens.to(device), mask.to(device)


def score(tokens, mask, prompt_ids, prompts, reward_fn, decode, eos_id: int):
    """-> rewards (B,): reward_fn(prompt, decoded completion without its EOS) for every row."""
    rewards = []
    for row, p, text, m in zip(tokens.tolist(), prompt_ids, prompts, mask.sum(1).long().tolist()):
        ids = row[len(p):len(p) + m]
        ids = ids[:-1] if ids and ids[-1] == eos_id else ids
        rewards.append(float(reward_fn(text, decode(ids))))
    return torch.tensor(rewards, device=tokens.device)                      # (B,)


def on_last_action(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """values (B,) -> (B, T-1): values[b] in the column of row b's last action, 0 elsewhere."""
    last = (mask * torch.arange(1, mask.size(1) + 1, device=mask.device)).argmax(dim=1)   # (B,)
    out = torch.zeros_like(mask, dtype=values.dtype)
    out[torch.arange(mask.size(0)), last] = values
    return out * mask


# --- the training loop --------------------------------------------------------------------------
def train_reinforce(policy, params, prompts, reward_fn, encode, decode, eos_id: int, pad_id: int,
                    *, steps: int, batch_size: int, samples_per_prompt: int = 8, lr: float = 1e-4,
                    max_new_tokens: int, temperature: float = 1.0, gamma: float = 1.0,
                    baseline_decay: float = 0.9, warmup: int = 10, grad_clip: float = 1.0,
                    seed: int = 0, log=print, log_every: int = 10):
    """Train `policy` with REINFORCE and a running-mean baseline; one dict of statistics per step.

    policy(tokens (B, T)) -> logits (B, T, V); params: the tensors to optimise (AdamW, a linear
    warmup over `warmup` steps, then constant lr: Adam's first steps are large); prompts: a list
    of strings or a callable rng -> prompt string; reward_fn(prompt, completion) -> float;
    encode(prompt) -> token ids (include any BOS yourself); decode(ids) -> completion string (it
    gets the sampled ids before EOS). log: called with a line of text every log_every steps, or
    None.
    """
    if steps < 1 or batch_size < 1 or samples_per_prompt < 1 or not temperature > 0:
        raise ValueError("need steps, batch_size, samples_per_prompt >= 1 and temperature > 0")
    if not 0 <= baseline_decay < 1:
        raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay}")
    params = [p for p in params]
    device = params[0].device
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = random.Random(seed)                                               # which prompts
    gen = torch.Generator(device=device).manual_seed(seed)                  # which completions
    baseline = 0.0
    history = []
    for step in range(steps):
        t0 = time.perf_counter()
        # 1. sample samples_per_prompt completions for each of batch_size prompts, score them
        batch = [prompts(rng) if callable(prompts) else rng.choice(prompts)
                 for _ in range(batch_size)]
        batch = [p for p in batch for _ in range(samples_per_prompt)]      # (B,)
        prompt_ids = [list(encode(p)) for p in batch]
        tokens, mask = sample(policy, prompt_ids, max_new_tokens, eos_id, pad_id, temperature,
                              gen, device)                                  # (B, T), (B, T-1)
        rewards = score(tokens, mask, prompt_ids, batch, reward_fn, decode, eos_id)   # (B,)
        # 2. returns-to-go, advantages against the baseline of the PAST batches
        returns = discounted_returns(on_last_action(rewards, mask), mask, gamma)     # (B, T-1)
        advantages = (returns - baseline) * mask                            # (B, T-1)
        # 3. one gradient step on the surrogate
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / max(1, warmup))
        logp = token_logprobs(policy, tokens)                               # (B, T-1)
        loss = reinforce_loss(logp, advantages, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = grad_clip if grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        optimizer.step()
        # 4. only now: the baseline takes this batch in
        baseline = update_baseline(baseline, returns, mask, baseline_decay)
        row = dict(step=step + 1, reward_mean=rewards.mean().item(), loss=loss.item(),
                   baseline=baseline, response_len=mask.sum(dim=1).mean().item(),
                   grad_norm=float(grad_norm), seconds=time.perf_counter() - t0)
        history.append(row)
        if log is not None and ((step + 1) % log_every == 0 or step + 1 == steps):
            log(f"reinforce step {step + 1}/{steps}  reward {row['reward_mean']:.3f}  "
                f"baseline {baseline:.3f}  loss {row['loss']:+.4f}")
    return history
