"""Mutation check: does the test suite notice realistic bugs in minirl/?

Each mutant below replaces one exact snippet of minirl/ with a plausible mistake (the kind a
refactor or a tired reader makes) and names the tests that should fail because of it. The runner
copies the repository to a temporary folder, applies one mutant at a time there (never to the
working tree), runs its tests with pytest (-x -q, a timeout per mutant), and reports each mutant
as caught or survived, with the total time:

    .venv/bin/python tests/mutants.py                 # every mutant (about 5 minutes on 2 cores)
    .venv/bin/python tests/mutants.py --list          # the list, nothing run
    .venv/bin/python tests/mutants.py grpo_old_is_current dpo_term_removed   # only these

Before the mutants it runs every named test once on the unmutated copy: a test that already fails
there would "catch" everything. Exit code 1 if a test fails on the unmutated copy, a mutant
survives or runs out of time, or a snippet is not found exactly once in the source (so a refactor
cannot silently disable a mutant; tests/test_mechanisms.py checks the snippets in the normal suite).

The weak SFT start that many tests use (conftest.py's `weak_init`) is a shipped file
(minirl/checkpoints/weak.pt), so no mutant can change it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
M = "tests/test_mechanisms.py::"


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str                 # relative to the repository root
    find: str                 # an exact snippet of that file, present exactly once
    replace: str              # what the mutant puts there instead
    description: str
    tests: tuple              # pytest node ids that should fail


MUTANTS = (
    # --- the four that survived the suite before tests/test_mechanisms.py ---
    Mutant("grpo_old_is_current", "minirl/grpo.py",
           "old = logp.detach() if cfg.inner_steps == 1 else batch.old_lp",
           "old = logp.detach()",
           "GRPO takes pi_old from the current policy on every inner step: ratio 1, the clip never acts",
           (M + "test_grpo_second_inner_step_has_a_ratio_and_clips",)),
    Mutant("grpo_skip_not_rescaled", "minirl/grpo.py",
           "loss = loss * batch.weight",
           "loss = loss",
           "--skip_zero_groups averages over the kept rows only: a larger gradient than the full batch's",
           ("tests/test_grpo.py::test_skipping_zero_signal_groups_gives_the_full_batch_update",)),
    Mutant("dpo_term_removed", "minirl/dpo.py",
           "loss = dpo + cfg.rpo_alpha * nll if cfg.rpo_alpha > 0 else dpo",
           "loss = cfg.rpo_alpha * nll if cfg.rpo_alpha > 0 else nll",
           "DPO's loop trains only the NLL of the chosen answers (SFT), the DPO term dropped",
           (M + "test_pure_dpo_widens_the_heldout_preference_margin",)),
    Mutant("a2c_critic_never_stepped", "minirl/a2c.py",
           "        value_opt.step()\n",
           "",
           "A2C computes the critic's gradient but never steps its optimizer",
           (M + "test_a2c_critic_value_loss_falls",)),
    Mutant("shard_whole_batch", "minirl/device.py",
           "return batch[rank * n:(rank + 1) * n]",
           "return batch",
           "shard() hands the whole global batch to every process",
           ("tests/test_distributed.py::test_shard_gives_each_rank_its_own_contiguous_slice",
            "tests/test_distributed.py::test_two_processes_equal_one")),
    # --- losses and estimators ---
    Mutant("reinforce_adv_not_detached", "minirl/reinforce.py",
           "return -masked_mean(logprobs * advantages.detach(), mask)",
           "return -masked_mean(logprobs * advantages, mask)",
           "REINFORCE differentiates through its advantages",
           ("tests/test_reinforce.py::test_loss_ignores_masked_positions_and_detaches_advantages",)),
    Mutant("reinforce_baseline_sign", "minirl/reinforce.py",
           "return (returns - baseline) * mask",
           "return (baseline - returns) * mask",
           "the advantage is b - G instead of G - b",
           ("tests/test_reinforce.py::test_baseline_helpers",)),
    Mutant("masked_mean_over_all_positions", "minirl/core.py",
           "return (x * mask).sum() / mask.sum().clamp(min=1)",
           "return (x * mask).sum() / mask.numel()",
           "masked_mean divides by every position, prompt and padding included, not by the actions",
           ("tests/test_core.py::test_masked_mean_ignores_padding_and_handles_an_empty_mask",)),
    Mutant("clip_range_ignored", "minirl/core.py",
           "surrogate_clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps_high) * adv",
           "surrogate_clipped = ratio * adv",
           "the clipped surrogate never clips the ratio",
           ("tests/test_ppo.py::test_policy_loss_hand_values_and_flat_past_the_clip",
            M + "test_grpo_second_inner_step_has_a_ratio_and_clips")),
    Mutant("k3_other_direction", "minirl/core.py",
           "return torch.exp(-diff) + diff - 1",
           "return torch.exp(diff) - diff - 1",
           "k3 estimates KL(pi_ref || pi) instead of KL(pi || pi_ref)",
           ("tests/test_ppo.py::test_kl_estimators_hand_values_and_properties",)),
    Mutant("gae_lambda_ignored", "minirl/core.py",
           "advantages = discounted_cumsum(deltas, gamma * lam) * mask",
           "advantages = discounted_cumsum(deltas, gamma) * mask",
           "GAE discounts by gamma only: lambda is ignored",
           ("tests/test_ppo.py::test_gae_hand_values", "tests/test_ppo.py::test_gae_lambda_zero_is_td_error")),
    Mutant("ppo_kl_sign_flipped", "minirl/ppo.py",
           "return -kl_coef * kl + place_on_last_action(scores, mask)",
           "return kl_coef * kl + place_on_last_action(scores, mask)",
           "the per-token KL term rewards moving away from the reference",
           (M + "test_ppo_kl_penalty_holds_the_policy_near_the_reference",)),
    Mutant("ppo_value_clip_wrong_centre", "minirl/ppo.py",
           "v_clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)",
           "v_clipped = torch.clamp(values, -clip_eps, clip_eps)",
           "the value clip is around 0 instead of around the rollout-time values",
           ("tests/test_ppo.py::test_value_loss_hand_values",)),
    Mutant("grpo_batch_std", "minirl/grpo.py",
           "centred = centred / (r.std(dim=1, keepdim=True) + 1e-4)",
           "centred = centred / (r.std() + 1e-4)",
           "GRPO scales by the std of the whole batch, not of each group",
           ("tests/test_grpo.py::test_group_advantages_hand_values",)),
    Mutant("grpo_kl_sign_flipped", "minirl/grpo.py",
           "per_token = per_token + kl_coef * kl",
           "per_token = per_token - kl_coef * kl",
           "GRPO's k3 term rewards moving away from the reference",
           ("tests/test_grpo.py::test_k3_kl_hand_value_and_direction",)),
    Mutant("dpo_mean_not_sum", "minirl/dpo.py",
           "return (logprobs * mask).sum(dim=1)",
           "return (logprobs * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)",
           "DPO's sequence log-prob is a per-token mean instead of a sum",
           ("tests/test_dpo.py::test_sequence_logprob_is_a_masked_sum",)),
    Mutant("bradley_terry_sign_flipped", "minirl/reward_model.py",
           "return -F.logsigmoid(chosen - rejected).mean()",
           "return -F.logsigmoid(rejected - chosen).mean()",
           "the reward model learns to prefer the rejected responses",
           ("tests/test_reward_model.py::test_bradley_terry_hand_values_and_stability",)),
    Mutant("a2c_bootstrap_past_the_end", "minirl/a2c.py",
           "bootstrap = _shift_left(values * mask, n_steps)",
           "bootstrap = _shift_left(values, n_steps)",
           "n-step TD targets bootstrap from V after the last action (padding)",
           ("tests/test_a2c.py::test_no_bootstrap_past_the_last_action_and_mask",)),
    Mutant("a2c_targets_not_detached", "minirl/a2c.py",
           "values, rewards = values.detach(), rewards * mask",
           "values, rewards = values, rewards * mask",
           "the TD targets and advantages carry the critic's gradient",
           ("tests/test_a2c.py::test_td_targets_are_detached_and_inputs_untouched",)),
    Mutant("sft_loss_over_all_positions", "minirl/sft.py",
           "return masked_mean(nll, mask)",
           "return nll.mean()",
           "the SFT loss averages over prompt and padding positions too",
           ("tests/test_sft.py::test_sft_loss_by_hand",
            "tests/test_sft.py::test_sft_loss_ignores_masked_positions_and_does_not_edit_inputs")),
    # --- rollouts, rewards and the loops ---
    Mutant("reward_on_first_action", "minirl/core.py",
           "last = (mask * torch.arange(mask.size(1), device=mask.device)).argmax(dim=1)",
           "last = mask.argmax(dim=1)",
           "the sequence reward (and the reward model's read-out) sits on the first action, not the EOS",
           ("tests/test_rollout.py::test_place_on_last_action",
            "tests/test_reward_model.py::test_sequence_reward_reads_the_eos_position")),
    Mutant("response_mask_drops_eos", "minirl/rollout.py",
           "eos_before = (is_eos.cumsum(dim=1) - is_eos.long()) > 0",
           "eos_before = is_eos.cumsum(dim=1) > 0",
           "the action mask stops before the EOS, so stopping is never an action",
           ("tests/test_rollout.py::test_response_mask_stops_after_first_eos",)),
    Mutant("ppo_reference_not_frozen", "minirl/ppo.py",
           "reference = frozen_copy(policy)",
           "reference = policy",
           "PPO's reference is the policy itself: the KL is always 0",
           (M + "test_ppo_kl_penalty_holds_the_policy_near_the_reference",)),
    Mutant("ppo_old_is_current", "minirl/ppo.py",
           "pi_loss, s = ppo_policy_loss(logp, old_logprobs[idx], advantages[idx], m,",
           "pi_loss, s = ppo_policy_loss(logp, logp.detach(), advantages[idx], m,",
           "PPO's epochs take pi_old from the current policy: the ratio is 1, the clip never acts",
           (M + "test_ppo_kl_penalty_holds_the_policy_near_the_reference",)),
    Mutant("grpo_reference_not_frozen", "minirl/grpo.py",
           "ref = frozen_copy(model)",
           "ref = model",
           "GRPO's reference is the policy itself: the KL penalty is always 0",
           ("tests/test_grpo.py::test_kl_is_measured_against_the_frozen_start",)),
    Mutant("dpo_reference_is_the_policy", "minirl/dpo.py",
           "ref_c, ref_r = ref_all[idx], ref_all[[i + len(data) for i in idx]]",
           "ref_c, ref_r = logp[:B].detach(), logp[B:].detach()",
           "DPO's reference log-probs come from the policy being trained",
           ("tests/test_dpo.py::test_train_dpo_learns_the_preferences_and_with_nll_improves",
            "tests/test_preferences.py::test_online_dpo_resamples_pairs_and_resets_the_reference_each_round")),
    Mutant("dpo_rejected_reference_misaligned", "minirl/dpo.py",
           "ref_c, ref_r = ref_all[idx], ref_all[[i + len(data) for i in idx]]",
           "ref_c, ref_r = ref_all[idx], ref_all[idx]",
           "the rejected answers are compared with the reference's log-prob of the chosen ones",
           ("tests/test_preferences.py::test_dpo_logs_its_diagnostics_and_starts_at_log_2",)),
    Mutant("dpo_reference_never_renewed", "minirl/dpo.py",
           "            data, ref_all = new_round()\n        idx",
           "            data = new_round()[0]\n        idx",
           "online DPO samples new pairs each round but keeps the first round's reference log-probs",
           ("tests/test_preferences.py::test_online_dpo_resamples_pairs_and_resets_the_reference_each_round",)),
    Mutant("ipo_target_sign", "minirl/dpo.py",
           "losses = (margin - 1 / (2 * beta)) ** 2",
           "losses = (margin + 1 / (2 * beta)) ** 2",
           "IPO regresses the margin onto -1/(2 beta): it learns to prefer the rejected answers",
           ("tests/test_preferences.py::test_ipo_hand_value_and_finite_target",)),
    Mutant("final_eval_on_training_split", "minirl/runs.py",
           "acc, samples = evaluate_greedy(model, self.tok, self.task, n_samples=8)",
           "acc, samples = evaluate_greedy(model, self.tok, self.task, "
           "self.task.sample_train(500, random.Random(0)), n_samples=8)",
           "a run's final accuracy is measured on training problems, not the held-out split",
           ("tests/test_grpo.py::test_cli_tiny_run",)),
    # --- the estimators beside GRPO: RLOO, REINFORCE++'s batch scale, GSPO ---
    Mutant("rloo_factor_inverted", "minirl/grpo.py",
           "centred = centred * (group_size / (group_size - 1))",
           "centred = centred * ((group_size - 1) / group_size)",
           "RLOO's leave-one-out advantage uses (G-1)/G instead of G/(G-1)",
           ("tests/test_grpo.py::test_rloo_hand_values_and_direct_leave_one_out",)),
    Mutant("batch_std_is_local", "minirl/grpo.py",
           "device=centred.device)]), world)",
           "device=centred.device)]), 1)",
           "REINFORCE++'s batch std is taken over this process's rows only, not the global batch",
           ("tests/test_distributed.py::test_grpo_update_two_processes_equal_one",)),
    Mutant("gspo_ratio_not_length_normalised", "minirl/grpo.py",
           "seq_logp = (logprobs * mask).sum(dim=1) / n_actions",
           "seq_logp = (logprobs * mask).sum(dim=1)",
           "GSPO's sequence ratio is the full product of token ratios, not its geometric mean",
           ("tests/test_grpo.py::test_gspo_hand_example",)),
    Mutant("gspo_clips_tokens", "minirl/grpo.py",
           "if loss_type == \"gspo\":\n        # 1-2.",
           "if loss_type == \"gspo-off\":\n        # 1-2.",
           "GSPO falls back to per-token ratios and clipping",
           ("tests/test_grpo.py::test_gspo_clips_whole_sequences_where_grpo_clips_tokens",)),
)

# --- the runner ---------------------------------------------------------------------------------------
def copy_repository(dest: Path):
    ignore = shutil.ignore_patterns(".venv", "runs", ".git", "__pycache__", "*.egg-info", ".pytest_cache")
    shutil.copytree(ROOT, dest, ignore=ignore)


def run_pytest(copy: Path, tests, timeout: float):
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        return r.returncode, r.stdout + r.stderr, time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        return None, "", time.perf_counter() - t0


def check_snippets(mutants) -> list[str]:
    problems = []
    for m in mutants:
        n = (ROOT / m.file).read_text().count(m.find)
        if n != 1:
            problems.append(f"{m.name}: snippet found {n} times in {m.file} (must be exactly once)")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="run only these mutants (default: all)")
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per pytest run (default 300)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run of the tests on the unmutated copy")
    ap.add_argument("--verbose", action="store_true", help="print pytest's output for every run")
    args = ap.parse_args(argv)
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        ap.error(f"unknown mutant(s): {', '.join(sorted(unknown))}")
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    if args.list:
        for m in chosen:
            print(f"{m.name:32s} {m.file:24s} {m.description}")
        return 0
    problems = check_snippets(chosen)
    for p in problems:
        print("SNIPPET NOT FOUND", p)
    chosen = [m for m in chosen if (ROOT / m.file).read_text().count(m.find) == 1]
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="minirl-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        copy_repository(copy)
        print(f"copied the repository to {copy} ({time.perf_counter() - t_start:.0f} s)", flush=True)
        if not args.no_baseline:
            tests = list(dict.fromkeys(t for m in chosen for t in m.tests))
            rc, out, dt = run_pytest(copy, tests, args.timeout * 3)
            print(f"baseline: {len(tests)} tests on the unmutated copy: "
                  f"{'pass' if rc == 0 else 'FAIL'} ({dt:.0f} s)", flush=True)
            if rc != 0:
                print(out[-4000:])
                return 1
        rows = []
        for m in chosen:
            path = copy / m.file
            original = path.read_text()
            path.write_text(original.replace(m.find, m.replace, 1))
            try:
                rc, out, dt = run_pytest(copy, m.tests, args.timeout)
            finally:
                path.write_text(original)
            result = ("TIMEOUT" if rc is None else "survived" if rc == 0 else "caught" if rc in (1, 2, 3)
                      else f"ERROR (pytest exit {rc})")
            rows.append((m, result, dt))
            print(f"{result:9s} {dt:6.1f} s  {m.name}: {m.description}", flush=True)
            if args.verbose or result not in ("caught", "survived"):
                print(out[-3000:])
    total = time.perf_counter() - t_start
    caught = sum(r == "caught" for _, r, _ in rows)
    print(f"\n{caught} of {len(rows)} mutants caught, {len(problems)} snippet(s) not found; "
          f"{total / 60:.1f} min in all")
    for m, result, _ in rows:
        if result != "caught":
            print(f"  {result}: {m.name} ({m.file}) -> {', '.join(m.tests)}")
    return 0 if caught == len(rows) and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
