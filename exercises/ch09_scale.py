"""Chapter 9 exercises: the arithmetic of scale -- parameters, FLOPs, MFU, several processes, memory.

Read chapters/09-gpu-and-scale.md first (and the parameter table of chapter 2, section 2.2). Fill in
each function below where it says `raise NotImplementedError  # YOUR CODE HERE`; keep the names and
signatures. Then grade with

    python -m minirl.grade 9

None of this needs a GPU: it is the bookkeeping that tells you what a GPU run will cost before you
start one. Only `math` and `torch` are needed. The references are minirl.device
(`train_flops_per_token`, `shard`), minirl.optim (`set_lr`), minirl/sft.py (the MFU and the loss
weighting of a run with several processes) and the memory tables of chapters 5 (section 5.9) and 9
(section 9.4); try not to peek until the grader says PASS.
"""
import math  # noqa: F401  (you may find it useful)

import torch


def count_parameters(vocab_size: int, block_size: int, n_layer: int, n_embd: int) -> int:
    """The number of parameters of minirl's GPT (minirl/model.py), counted from its shape alone.

    The model (chapter 2, section 2.2): a token embedding (vocab_size x n_embd) that is also the
    output layer (weight tying: counted once), a learned position embedding (block_size x n_embd),
    n_layer pre-LayerNorm blocks, and a final LayerNorm. Each block has
        - a LayerNorm before attention and one before the MLP (a gain and a shift of n_embd each);
        - attention: one Linear n_embd -> 3 n_embd for queries, keys and values, and one Linear
          n_embd -> n_embd for the output projection, both with biases;
        - an MLP: Linear n_embd -> 4 n_embd, GELU, Linear 4 n_embd -> n_embd, both with biases.
    The number of heads does not change the count (the heads split the 3 n_embd outputs).

    Returns a Python int. Example: the default arithmetic model, count_parameters(23, 32, 4, 128),
    is 800,384 (chapter 2's table: 2,944 + 4,096 + 264,192 + 526,848 + 2,304).
    Difficulty: ★★☆
    Hint: a Linear layer from a to b holds a*b weights and b biases; count one block, multiply by
    n_layer, then add what sits outside the blocks (how many LayerNorms are there in all?).
    """
    raise NotImplementedError  # YOUR CODE HERE


def train_flops_per_token(model, seq_len: int) -> float:
    """Training FLOPs (forward + backward) per token, the standard estimate of chapter 9, section 9.3:

        FLOPs/token = 6 N + 12 L C T

    model:   a minirl GPT (minirl.model.GPT); model.config has n_layer (L) and n_embd (C), and
             model.wpe is the position embedding (an nn.Embedding).
    seq_len: T, the length of the sequences the model is trained on (the input length, i.e.
             tokens.size(1) - 1 in minirl's training loops).
    N counts the model's parameters *without* the position table: a position embedding is looked
    up, it multiplies nothing. 6 = 2 FLOPs per multiply-add x (1 forward + 2 backward); the second
    term is attention's scores and weighted sum (Q K^T and A V), which no parameter counts.

    Returns a number (an int or a Python float). Example: the default model (800,384 parameters,
    4,096 of them in the position table, L = 4, C = 128) on the demonstration 07+42=94 (10 tokens
    with BOS and EOS, so T = 9): 6 * 796,288 + 12 * 4 * 128 * 9 = 4,833,024.
    Difficulty: ★☆☆
    Hint: sum(p.numel() for p in model.parameters()) counts everything; subtract the part that is
    only looked up.
    """
    raise NotImplementedError  # YOUR CODE HERE


def mfu(flops_per_token: float, tokens_per_s: float, peak_flops, world_size: int = 1):
    """Model FLOPs utilisation: the share of the hardware's peak arithmetic a training run uses.

        MFU = flops_per_token * tokens_per_s / (peak_flops * world_size)

    flops_per_token: training FLOPs per token (train_flops_per_token).
    tokens_per_s:    training tokens per second of the whole run, i.e. summed over all processes
                     (what minirl's SFT logs as `tokens_per_s`).
    peak_flops:      the peak FLOP/s of ONE device (e.g. 989e12 for an H100 in bf16), or None where
                     there is no meaningful peak (a CPU, an unknown GPU).
    world_size:      the number of devices (processes) sharing the work; default 1.

    Returns a Python float between 0 and 1 (a fraction, not a percentage), or None when peak_flops
    is None: minirl then leaves MFU out rather than inventing one. Raise ValueError for a
    peak_flops <= 0 or a world_size < 1.
    Example: 6e6 FLOPs/token at 1e6 tokens/s on one device with a peak of 1e13 FLOP/s -> 0.6;
    the same throughput spread over 4 such devices -> 0.15.
    Difficulty: ★☆☆
    Hint: the numerator is the arithmetic the run did per second; the denominator is what all the
    devices together could have done.
    """
    raise NotImplementedError  # YOUR CODE HERE


def shard(batch: list, rank: int, world: int) -> list:
    """This process's share of a global batch, as in data-parallel training (chapter 9, section 9.5).

    Every one of the `world` processes builds the same global `batch` (a list) from the same seeded
    generator and keeps a *contiguous* slice of it: process `rank` (0 <= rank < world) gets the
    rank-th of `world` equal consecutive pieces, so that the shards of ranks 0, 1, ..., world-1,
    concatenated in that order, are exactly `batch`. Contiguous, not strided: GRPO lays out the G
    answers to one prompt as consecutive rows, and a contiguous split of whole groups keeps every
    group on one process, where its mean and std are computed.
    Raise ValueError if `world` does not divide len(batch) (never drop or duplicate rows silently).
    Returns a new list; `batch` is not modified.
    Example: shard([10, 11, 12, 13, 14, 15], rank=1, world=3) -> [12, 13].
    Difficulty: ★☆☆
    Hint: each process gets n = len(batch) // world rows; where does rank's piece start?
    """
    raise NotImplementedError  # YOUR CODE HERE


def data_parallel_loss(logprobs: torch.Tensor, mask: torch.Tensor, n_tokens_all, world_size: int) -> torch.Tensor:
    """The SFT loss one of `world_size` processes back-propagates so that data parallelism gives
    exactly the gradient of one process training on the whole global batch.

    logprobs:     (B_k, T-1) log-probabilities of the target tokens on this process's shard (with
                  gradient).
    mask:         (B_k, T-1) 1.0 on the response tokens (the actions), 0.0 on prompt and padding.
    n_tokens_all: the number of response tokens in the *global* batch, summed over every process
                  (an int or a 0-d tensor; in minirl it comes from an all-reduce of mask.sum()).
    world_size:   the number of processes.

    The loss of one process on the whole global batch is the mean over ALL its response tokens,
        L = -(sum of logprobs * mask over the global batch) / n_tokens_all.
    DistributedDataParallel averages the processes' gradients with EQUAL weights, 1 / world_size
    each. The shards rarely hold the same number of response tokens (some answers have two digits,
    some three), so the average of the shards' own token means is not L's gradient. Return the loss
    this process must use instead: a scalar tensor whose gradient, averaged with equal weights over
    the processes, is exactly the gradient of L (chapter 9, section 9.5, point 2). Check yourself:
    with world_size = 1 and n_tokens_all = mask.sum() it is the plain masked mean.

    A shard without a single response token gives loss 0 (never NaN), and so does a global batch
    without one (n_tokens_all = 0). The loss keeps its gradient with respect to logprobs.
    Example: logprobs [[-1, -2, -3]], mask [[1, 1, 0]], n_tokens_all 4, world_size 2 -> 1.5.
    Difficulty: ★★★
    Hint: write down the gradient each process's loss must have so that the average of the
    world_size gradients is L's; a shard's token mean is its sum over mask.sum() tokens, so what
    must it be multiplied by?
    """
    raise NotImplementedError  # YOUR CODE HERE


def bytes_per_parameter(trained: bool, precision: str = "float32") -> dict:
    """Bytes per parameter that one model holds during training, before activations.

    trained:   True for a model the optimizer updates (a policy, a critic), False for a frozen one
               (a reference policy, a reward model): a frozen model holds its weights and nothing else.
    precision: "float32" (the default): everything in 4-byte floats, as minirl runs (its bf16
               *autocast* keeps the weights in float32 too). A trained model holds its weights (4),
               its gradients (4) and AdamW's two moment estimates (4 + 4): 16 bytes; a frozen one 4.
               "mixed": the usual mixed-precision recipe of large runs (Rajbhandari et al. 2020;
               chapter 5, section 5.9): bf16 weights (2) and bf16 gradients (2), plus the optimizer's
               float32 master copy of the weights and its two moments (4 + 4 + 4 = 12): 16 bytes.
               A frozen model holds only its bf16 weights: 2.
    Any other precision raises ValueError.

    Returns a dict of three Python ints, {"weights": ..., "grads": ..., "optimizer": ...}, where
    "optimizer" counts everything the optimizer keeps (the moments and, in "mixed", the master copy).
    Example: bytes_per_parameter(True) -> {"weights": 4, "grads": 4, "optimizer": 8}.
    Difficulty: ★☆☆
    Hint: Adam keeps two numbers per parameter (a first and a second moment), each as large as a
    float32 weight.
    """
    raise NotImplementedError  # YOUR CODE HERE


def models_held(algo: str, kl_coef: float = 0.0, reward_model: bool = False) -> tuple:
    """How many networks of the policy's size an algorithm keeps in memory: (trained, frozen).

    algo: one of "sft", "reinforce", "a2c", "ppo", "rlhf", "dpo", "grpo" (chapter 9, section 9.4;
          chapter 8, section 8.7):
        - SFT and REINFORCE train the policy and nothing else;
        - A2C trains the policy and a critic;
        - PPO trains the policy and a value model and keeps a frozen reference (for the KL
          penalty); with reward_model=True (a learned reward instead of the verifier) it also keeps
          the frozen reward model -- that is RLHF, which always has one;
        - DPO trains the policy. Its loss needs a frozen reference's log-probabilities of the
          preference pairs, but the pairs are fixed, so minirl computes those numbers once, before
          training (two per pair), and keeps no reference network: (1, 0);
        - GRPO trains the policy; it keeps a frozen reference only when kl_coef > 0 (the KL term).
    kl_coef:      GRPO's KL coefficient beta (ignored by the others); default 0.
    reward_model: PPO against a learned reward model (ignored by the others); default False.
    An unknown algo raises ValueError. (minirl.memory.models_held reports the total, trained + frozen,
    for chapter 8's comparison.)

    Returns a tuple of two Python ints (trained, frozen).
    Example: models_held("ppo") -> (2, 1); models_held("grpo") -> (1, 0).
    Difficulty: ★☆☆
    Hint: list the networks each method calls during a training step, then ask of each one whether
    the optimizer updates it; a critic is trained, a reference never is.
    """
    raise NotImplementedError  # YOUR CODE HERE


def training_memory_mib(algo: str, n_params: int, precision: str = "float32", kl_coef: float = 0.0,
                        reward_model: bool = False) -> float:
    """The memory an algorithm's networks hold, in MiB (2**20 bytes), activations not included.

    Every network is taken to have n_params parameters (the critic's one-number head is
    negligible, as in chapter 9's table). Each trained network costs its weights, gradients and
    optimizer states; each frozen one its weights only, in the given precision (bytes_per_parameter);
    the networks are those of models_held(algo, kl_coef, reward_model). You may call your two functions
    above.

    Returns a Python float. Examples (chapter 9, section 9.4, the default 800,384-parameter model):
    "sft" -> 12.21 MiB, "ppo" -> 27.48 MiB (two trained networks and a frozen reference).
    Chapter 5, section 5.9: RLHF with a 7e9-parameter policy in "mixed" precision holds
    2 x 16 x 7e9 + 2 x 2 x 7e9 = 252e9 bytes (252 GB), i.e. about 240,326 MiB.
    Raise ValueError for an unknown algo or precision, or for n_params < 0.
    Difficulty: ★★☆
    Hint: bytes = n_params x (trained x bytes of a trained network + frozen x bytes of a frozen
    one); a MiB is 1,048,576 bytes, not a million.
    """
    raise NotImplementedError  # YOUR CODE HERE


def set_lr(optimizer, cfg, step: int) -> float:
    """Set and return the learning rate of training step `step` (0, 1, ..., cfg.steps - 1).

    optimizer: a torch optimizer; write the new rate into group["lr"] of EVERY one of
               optimizer.param_groups.
    cfg:       any object with the fields
                 cfg.lr           the peak learning rate;
                 cfg.lr_schedule  "constant" or "cosine" (minirl's config accepts nothing else);
                 cfg.steps        the number of training steps;
                 cfg.warmup       the number of warmup steps (0 = none).
    The schedule (minirl/optim.py; chapter 9, section 9.1: Adam's first steps are oversized, so a
    large run warms up):
        "constant": lr(step) = cfg.lr
        "cosine":   frac = min(1, step / max(1, cfg.steps - 1))
                    lr(step) = cfg.lr * (0.1 + 0.9 * 0.5 * (1 + cos(pi * frac)))
                    i.e. cfg.lr at step 0, down to 0.1 * cfg.lr at the last step
        then, during warmup, scale by min(1, (step + 1) / max(1, cfg.warmup)), so that the first
        step already has a small, nonzero rate and step cfg.warmup - 1 has the full one.
    Returns the rate as a Python float.
    Example: lr 1e-3, "cosine", 11 steps, no warmup: step 0 -> 1e-3, step 5 -> 5.5e-4,
    step 10 -> 1e-4; with warmup 4, step 0 -> 2.5e-4 * (the cosine's value at step 0) = 2.5e-4.
    Difficulty: ★★☆
    Hint: compute the schedule's value first and the warmup factor second, then multiply; count
    the steps from 0, so the warmup factor of step 0 is 1 / warmup, not 0.
    """
    raise NotImplementedError  # YOUR CODE HERE
