"""The RL vocabulary as code.

An *environment* hands the agent a *state*; the agent's *policy* pi(a | s) picks an *action*; the
environment answers with a *reward* and the next state, until the *episode* ends. The *return* is
the (discounted) sum of rewards, G_t = sum_k gamma^k r_{t+k}; the *value* V(s) is the expected
return from state s, and Q(s, a) the expected return after taking a in s.

Two environments share one protocol:
  Corridor   a classic toy: walk right to reach the goal. Small enough to solve by hand.
  TokenEnv   text generation as an MDP: state = prompt + tokens so far, action = next token,
             the episode ends at EOS (or a length cap), reward = the task's verifier at the end.
Chapter: chapters/01-vocabulary.md (1.1 and its corridor, 1.5 the language model as a policy).
"""
from __future__ import annotations

import random
from typing import Any, Protocol

import torch
import torch.nn as nn

from .core import discounted_cumsum


def returns_to_go(rewards, gamma: float) -> torch.Tensor:
    """(T,) -> (T,): G_t = r_t + gamma G_{t+1} = sum_k gamma^k r_{t+k} (core.discounted_cumsum)."""
    return discounted_cumsum(torch.as_tensor(rewards, dtype=torch.float32), gamma)


def discounted_return(rewards, gamma: float) -> float:
    """G_0 = r_0 + gamma r_1 + gamma^2 r_2 + ... of one trajectory's rewards (in float64)."""
    g = discounted_cumsum(torch.as_tensor([float(r) for r in rewards], dtype=torch.float64), gamma)
    return float(g[0]) if len(g) else 0.0


def softmax_policy(logits: torch.Tensor, generator: torch.Generator | None = None):
    """Sample a ~ softmax(logits) and return (actions, log pi(a)).

    logits (A,) or (B, A) -> actions () or (B,), logprobs of the same shape.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    flat = logp.reshape(-1, logp.size(-1))                                 # (B, A)
    actions = torch.multinomial(flat.exp(), 1, generator=generator).squeeze(-1)   # (B,)
    chosen = flat.gather(-1, actions[:, None]).squeeze(-1)                  # (B,)
    return actions.reshape(logp.shape[:-1]), chosen.reshape(logp.shape[:-1])


class Env(Protocol):
    def reset(self) -> Any:
        """Start an episode; return the initial state s_0."""

    def step(self, action: int) -> tuple[Any, float, bool, dict]:
        """Apply an action; return (next state, reward, done, info)."""


class Corridor:
    """Cells 0..length-1; start in cell 0; actions 0 = left, 1 = right; reward +1 on reaching the
    last cell (which ends the episode); every other step gives 0. Episodes are cut at max_steps.

    With gamma < 1 the optimal policy is "always right": the sooner the +1, the larger its
    discounted value, V*(s) = gamma^(length - 1 - s - 1) for s < length - 1.
    """
    n_actions = 2

    def __init__(self, length: int = 6, max_steps: int | None = None):
        if length < 2:
            raise ValueError(f"corridor length must be >= 2, got {length}")
        self.length = length
        self.max_steps = max_steps or 4 * length
        self.pos = 0
        self.t = 0

    @property
    def n_states(self) -> int:
        return self.length

    def reset(self) -> int:
        self.pos = 0
        self.t = 0
        return self.pos

    def step(self, action: int) -> tuple[int, float, bool, dict]:
        if action not in (0, 1):
            raise ValueError(f"action must be 0 (left) or 1 (right), got {action!r}")
        self.pos = max(0, self.pos - 1) if action == 0 else self.pos + 1
        self.t += 1
        at_goal = self.pos == self.length - 1
        done = at_goal or self.t >= self.max_steps
        return self.pos, (1.0 if at_goal else 0.0), done, {"timeout": done and not at_goal}


class TokenEnv:
    """LLM generation as an MDP over token ids.

    state   the list of token ids so far: [BOS] + prompt (+ response tokens)
    action  the next token id
    done    when the action is EOS or the response reaches max_new_tokens
    reward  0 for every action except the last, which gets task.reward(prompt, response)
    """

    def __init__(self, task, tokenizer, max_new_tokens: int | None = None, seed: int = 0):
        self.task = task
        self.tok = tokenizer
        self.max_new_tokens = max_new_tokens or task.max_answer_len + 1
        self.rng = random.Random(seed)
        self.prompt = ""
        self.state = []
        self.response = []

    @property
    def n_actions(self) -> int:
        return self.tok.vocab_size

    def reset(self, prompt: str | None = None) -> list[int]:
        if prompt is None:
            prompt = self.task.prompt(*self.task.sample_train(1, self.rng)[0])
        self.prompt = prompt
        self.state = [self.tok.bos_id] + self.tok.encode(prompt)
        self.response = []
        return list(self.state)

    def step(self, action: int) -> tuple[list[int], float, bool, dict]:
        action = int(action)
        self.state.append(action)
        self.response.append(action)
        done = action == self.tok.eos_id or len(self.response) >= self.max_new_tokens
        reward = 0.0
        info = {}
        if done:
            text = self.tok.decode(self.response)
            reward = self.task.reward(self.prompt, text)
            info = {"prompt": self.prompt, "response": text}
        return list(self.state), reward, done, info


# --- tabular agents for the Corridor (chapters 3 and 4) ---------------------------------------
class TabularPolicy(nn.Module):
    """pi(a | s) = softmax(theta[s]): one row of logits per state. states (...) -> logits
    (..., A)."""

    def __init__(self, n_states: int, n_actions: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_states, n_actions))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.logits[states]


@torch.no_grad()
def corridor_episodes(policy: nn.Module, n: int, length: int, generator=None, greedy: bool = False):
    """Play n Corridor episodes side by side (the env is Python, so this loops over time steps, not
    over tokens). -> states, actions (B, T) long; rewards, mask (B, T) float; T = longest episode.
    states[:, t] is s_t, the state before action t; mask is 1 on the actions actually taken."""
    envs = [Corridor(length) for _ in range(n)]
    T = envs[0].max_steps
    states = torch.zeros(n, T, dtype=torch.long)
    actions = torch.zeros(n, T, dtype=torch.long)
    rewards = torch.zeros(n, T)
    mask = torch.zeros(n, T)
    s = torch.tensor([e.reset() for e in envs])
    alive = [True] * n
    for t in range(T):
        logits = policy(s)                                                 # (n, A)
        a = (logits.argmax(-1) if greedy
             else torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0])
        for i, env in enumerate(envs):
            if alive[i]:
                states[i, t] = s[i]
                actions[i, t] = a[i]
                mask[i, t] = 1.0
                s[i], rewards[i, t], done, _ = env.step(int(a[i]))
                alive[i] = not done
        if not any(alive):
            T = t + 1
            break
    return states[:, :T], actions[:, :T], rewards[:, :T], mask[:, :T]


def corridor_optimal_return(length: int, gamma: float) -> float:
    """Always walking right reaches the goal with the (length-1)-th action:
    G_0 = gamma^(length-2)."""
    return gamma ** (length - 2)


class TabularValue(nn.Module):
    """V(s) = w[s]: one number per state. states (...) -> values (...)."""

    def __init__(self, n_states: int):
        super().__init__()
        self.v = nn.Parameter(torch.zeros(n_states))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.v[states]
