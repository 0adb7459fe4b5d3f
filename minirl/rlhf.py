"""RLHF in three stages, as one command (Ziegler et al. 2019; Stiennon et al. 2020; Ouyang et al.
2022):

    1. SFT            imitate demonstrations                 -> pi_SFT   (minirl.sft, or --init)
    2. reward model   fit r_phi to a labeller's choices      -> r_phi    (minirl.reward_model)
                      (its trunk: an SFT model trained --rm_sft_steps, by default to full
                      strength; --rm_sft_steps 0 = the stage-1 model)
    3. PPO            maximise r_phi(x, y) - beta KL(pi || pi_SFT) -> pi_RLHF   (minirl.ppo)

Stage 3 optimises the LEARNED reward, so the run reports it beside the verifier's: `score` is the
learned reward of the rollouts, `true_reward` their verifier reward, `eval_accuracy` greedy
held-out accuracy. `reward_hacking` repeats stage 3 with several KL coefficients beta.
Defaults: beta = 0.2 here (PPO alone: 0.02), and a labeller that values each digit 7 at 0.1 of a
correct answer (--sevens 0.1; the Labeller class on its own defaults to 0.3).

    python -m minirl rlhf                         # all stages: runs/rlhf/{sft,reward_model,.}
    python -m minirl rlhf --init runs/weak/model.pt --kl_coef 0

Chapter: chapters/05-ppo-and-rlhf.md, 5.6 (three stages), 5.7 (the judge), 5.8 (reward hacking).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .config import ConfigError, config_field, defaults
from .ppo import PPOConfig, train_ppo
from .reward_model import RewardModelConfig, train_reward_model
from .run_folder import holds_run
from .runs import TrainResult
from .sft import WEAK_INIT, SFTConfig, train_sft

SHARED = ("task", "reverse", "pad", "seed", "device", "progress", "n_layer", "n_head", "n_embd",
          "block_size", "overwrite")


@defaults(kl_coef=0.2, steps=150)
class RLHFConfig(PPOConfig):
    sft_steps: int = config_field(WEAK_INIT["steps"], "stage 1: SFT steps (skipped with --init)",
                                  at_least=1)
    rm_steps: int = config_field(3000, "stage 2: reward-model steps (skipped with --reward_model)",
                                 at_least=1)
    rm_lr: float = config_field(3e-4, "stage 2: reward-model learning rate", above=0)
    rm_sft_steps: int = config_field(1000, "stage 2: the reward model starts from an SFT model "
                                           "trained this many steps (a trunk that can add); 0 = "
                                           "from the stage-1 model")
    rm_pairs: int = config_field(40000, "stage 2: labelled preference pairs", at_least=1)
    sevens: float = config_field(0.1, "stage 2: the labeller's flaw, utility of each digit 7 "
                                      "(1 = a correct answer, 0 = a flawless labeller)")
    noise: float = config_field(0.2, "stage 2: labeller noise (Bradley-Terry temperature; 0 = "
                                     "always picks the higher utility)")

    def stage_configs(self):
        """The three stages' configs, all validated before anything is written."""
        out = Path(self.out or "runs/rlhf")
        shared = {k: getattr(self, k) for k in SHARED}
        sft = SFTConfig(**shared, out=str(out / "sft"), steps=self.sft_steps,
                        lr_schedule=WEAK_INIT["lr_schedule"])
        init = self.init or str(out / "sft" / "model.pt")
        rm_sft = SFTConfig(**shared, out=str(out / "rm_sft"), steps=max(1, self.rm_sft_steps))
        rm_init = str(out / "rm_sft" / "model.pt") if self.rm_sft_steps else init
        rm = RewardModelConfig(**shared, out=str(out / "reward_model"), init=rm_init,
                               steps=self.rm_steps, lr=self.rm_lr, pairs=self.rm_pairs,
                               sevens=self.sevens, noise=self.noise, sampler=init)
        ppo = PPOConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(PPOConfig)})
        ppo.out = str(out)
        ppo.init = init
        ppo.reward_model = self.reward_model or str(out / "reward_model" / "model.pt")
        return sft, rm_sft, rm, ppo

    def validate(self):
        reward_model = self.reward_model              # stage 2 may not exist yet
        self.reward_model = ""
        try:
            super().validate()
        finally:
            self.reward_model = reward_model
        sft, rm_sft, rm, ppo = self.stage_configs()
        stages = [Path(ppo.out)] + [Path(c.out) for c in (sft, rm_sft, rm)]
        if not (self.resume or self.overwrite) and any(holds_run(f) for f in stages):
            raise ConfigError(f"{ppo.out} already holds an RLHF run; pass --overwrite to replace "
                              f"it, --resume to keep its finished stages and continue, or --out to "
                              f"choose another folder")
        if not self.init:
            sft.validate()
        if not self.reward_model:
            rm_sft.validate()
            rm.init = ""                                                  # made by stage 1
            rm.sampler = ""
            rm.validate()
        else:
            from .ppo import check_reward_model
            check_reward_model(self.reward_model)


def train_rlhf(cfg: RLHFConfig) -> TrainResult:
    cfg.validate()
    sft, rm_sft, rm, ppo = cfg.stage_configs()
    reuse = cfg.resume                          # --resume: keep finished stages, continue PPO
    say = print if cfg.progress else (lambda *a: None)
    if not cfg.init and not (reuse and Path(ppo.init).exists()):
        say("stage 1/3: SFT -> the policy to align")
        train_sft(sft)                                                        # stage 1
    rm_summary = {}
    if not cfg.reward_model:
        if not (reuse and Path(ppo.reward_model).exists()):
            if cfg.rm_sft_steps:
                say("stage 2/3: SFT -> the judge's trunk (a model that can add)")
                train_sft(rm_sft)                                             # the judge's trunk
            say("stage 2/3: reward model from the labeller's pairwise choices")
            train_reward_model(rm)                                            # stage 2
        rm_summary = json.loads((Path(rm.out) / "summary.json").read_text())
        say("  judge: verifier agreement {:.1%}, sample AUC {}".format(
            rm_summary["verifier_agreement"], "n/a" if rm_summary.get("sample_auc") is None
            else f"{rm_summary['sample_auc']:.3f}"))
    say(f"stage 3/3: PPO against the learned reward, KL coefficient beta = {cfg.kl_coef:g}")
    result = train_ppo(ppo, algo="rlhf")                                      # stage 3
    last = [r for r in result.metrics if "score" in r]
    summary = {**result.summary, "learned_reward": last[-1]["score"] if last else None,
               "true_reward": last[-1]["true_reward"] if last else None,
               "rm_heldout_pair_accuracy": rm_summary.get("heldout_pair_accuracy"),
               "rm_verifier_agreement": rm_summary.get("verifier_agreement"),
               "rm_sample_auc": rm_summary.get("sample_auc")}
    (result.out / "summary.json").write_text(json.dumps(summary, indent=2))
    result.summary = summary
    if last:
        say(f"  last rollout: learned reward {summary['learned_reward']:+.2f}, true reward "
            f"(verifier) {summary['true_reward']:.2f}, KL to the reference "
            f"{summary['final_kl']:.2f} nats")
    return result


# --- the reward-hacking experiment ----------------------------------------------------------
def reward_hacking(out: str, init: str, reward_model: str, kl_coefs=(0.0, 0.02, 0.2),
                   **overrides) -> dict:
    """PPO against the same learned reward with several KL coefficients -> {beta: metrics rows}.

    The default betas are 0 (no leash), 0.02 (PPO's default against the verifier) and 0.2 (the
    default of `minirl rlhf`); chapter 5's notebook passes (0, 0.2), benchmarks/rlhf_judges.py runs
    its own loop."""
    runs = {}
    for beta in kl_coefs:
        cfg = PPOConfig(out=str(Path(out) / f"beta_{beta:g}"), init=init, reward_model=reward_model,
                        kl_coef=beta, **{"overwrite": True, **overrides})
        runs[beta] = train_ppo(cfg, algo="rlhf").metrics
    return runs


CLI = (RLHFConfig, train_rlhf, "RLHF: SFT -> reward model from preferences -> PPO against it")
