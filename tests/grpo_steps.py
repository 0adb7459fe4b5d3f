"""train_grpo's update on a given rollout, for the tests that fix the rollout: the same calls as the
inner loop of minirl/grpo.py's train_grpo (update_batch, then inner_steps of grpo_step_loss and an
optimizer step)."""
from minirl.grpo import grpo_step_loss
from minirl.grpo_rows import sampled_entropy, update_batch
from minirl.optim import clip_grad_norm


def grpo_updates(policy, optimizer, roll, adv, ref_lp, cfg, max_len: int, world: int = 1, log: bool = True):
    """-> (the last step's loss, its stats with the logged entropy, its grad norm)."""
    model = getattr(policy, "module", policy)
    batch = update_batch(model, roll, adv, ref_lp, cfg, log)
    for i in range(cfg.inner_steps):
        loss, stats, logp = grpo_step_loss(policy, batch, cfg, max_len, world)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(model, cfg.grad_clip)
        optimizer.step()
        if i == 0:
            first_logp = logp
    return loss.detach(), {**stats, "entropy": sampled_entropy(batch, first_logp)}, grad_norm
