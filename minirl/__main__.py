"""The command line: `python -m minirl <command> [--flags]`.

Training commands get their flags from their Config dataclass (every field, with its help text):

    python -m minirl sft --steps 1000 --out runs/sft
    python -m minirl grpo --init runs/weak/model.pt
    python -m minirl eval --init runs/sft/model.pt
    python -m minirl sample --init runs/sft/model.pt --prompt 12+34=
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import typing

# command -> module; each module defines CLI = (ConfigClass, train_function, one-line description)
TRAINERS = {
    "sft": "minirl.sft",
    "reinforce": "minirl.reinforce",
    "a2c": "minirl.a2c",
    "reward-model": "minirl.reward_model",
    "ppo": "minirl.ppo",
    "rlhf": "minirl.rlhf",
    "dpo": "minirl.dpo",
    "grpo": "minirl.grpo",
    "compare": "minirl.compare",
}
OTHER = {"eval": "held-out accuracy of a checkpoint, with a few samples",
         "sample": "complete prompts with a checkpoint",
         "demo": "the main job: SFT to a weak model, then RL (see README)"}


def available_trainers() -> dict:
    out = {}
    for name, mod in TRAINERS.items():
        try:
            out[name] = importlib.import_module(mod).CLI
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
    return out


def add_config_flags(parser: argparse.ArgumentParser, config_cls):
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        if not f.init:
            continue
        kind = hints[f.name]
        help_text = f.metadata.get("help", "").replace("%", "%%")
        if kind is bool:
            parser.add_argument(f"--{f.name}", action=argparse.BooleanOptionalAction, default=f.default,
                                help=help_text)
        else:
            parser.add_argument(f"--{f.name}", type=kind, default=f.default, metavar=kind.__name__.upper(),
                                help=help_text)


def build_parser(trainers: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m minirl", description="minirl: RL for language models, "
                                     "small enough to read, run on a laptop CPU.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (config_cls, _, desc) in trainers.items():
        p = sub.add_parser(name, help=desc, description=desc,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        add_config_flags(p, config_cls)
        p.add_argument("--preset", default=None, help="a named set of defaults, e.g. gpu (see runs.PRESETS)")
    p = sub.add_parser("eval", help=OTHER["eval"])
    p.add_argument("--init", required=True, help="checkpoint to evaluate (a model.pt)")
    p.add_argument("--task", default=None, help="task (default: the one the checkpoint was trained on)")
    p.add_argument("--n", type=int, default=500, help="held-out problems to score (at most the split size)")
    p.add_argument("--samples", type=int, default=8, help="completions to show")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p = sub.add_parser("sample", help=OTHER["sample"])
    p.add_argument("--init", required=True, help="checkpoint to sample from (a model.pt)")
    p.add_argument("--prompt", action="append", default=None, help="a prompt such as 12+34= (repeatable); "
                   "default: a few held-out problems")
    p.add_argument("--n", type=int, default=1, help="samples per prompt")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--top_k", type=int, default=None, help="sample among the k most likely tokens")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p = sub.add_parser("demo", help=OTHER["demo"])
    p.add_argument("--out", default="runs/demo", help="folder for both phases and the plot")
    p.add_argument("--quick", action="store_true", help="a much shorter run (smoke test)")
    return parser


def _load_for_inference(args):
    from .runs import load_model, pick_device
    from .tasks import make_task
    from .tokenizer import CharTokenizer
    from .runs import read_checkpoint
    ckpt = read_checkpoint(args.init)
    t = ckpt["task"]
    task = make_task(getattr(args, "task", None) or t["name"], reverse=t["reverse"], pad=t["pad"])
    tok = CharTokenizer()
    model, _ = load_model(args.init, tok, task, pick_device(args.device), kind="GPT")
    return model, tok, task


def cmd_eval(args):
    from .rollout import evaluate
    model, tok, task = _load_for_inference(args)
    if args.n <= 0:
        raise SystemExit("error: --n must be positive")
    acc, samples = evaluate(model, tok, task, pairs=task.heldout()[:args.n], n_samples=args.samples)
    print(f"{task.name} (reverse={task.reverse}, pad={task.pad}): held-out exact match "
          f"{acc:.1%} on {min(args.n, len(task.heldout()))} problems")
    for prompt, text, ok in samples:
        print(f"  {prompt}{text:<8} {'ok' if ok else 'wrong'}")
    return acc


def cmd_sample(args):
    import torch
    from .rollout import sample
    torch.manual_seed(args.seed)
    model, tok, task = _load_for_inference(args)
    prompts = args.prompt or [task.prompt(a, b) for a, b in task.heldout()[:5]]
    for p in prompts:
        try:
            tok.encode(p)
        except ValueError as e:
            raise SystemExit(f"error: prompt {p!r}: {e}")
    r = sample(model, tok, task, prompts, samples_per_prompt=args.n, temperature=args.temperature,
               top_k=args.top_k, greedy=args.temperature == 0)
    for p, text, rew in zip(r.prompts, r.texts, r.rewards.tolist()):
        print(f"{p}{text}    reward={rew:g}")


def main(argv=None):
    from .runs import ConfigError
    trainers = available_trainers()
    parser = build_parser(trainers)
    args = parser.parse_args(argv)
    if getattr(args, "preset", None):         # re-parse with the preset's values as the defaults
        from .runs import preset_defaults
        try:
            names = {f.name for f in dataclasses.fields(trainers[args.command][0])}
            parser._subparsers._group_actions[0].choices[args.command].set_defaults(
                **preset_defaults(args.preset, args.command, names))
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "eval":
            cmd_eval(args)
        elif args.command == "sample":
            cmd_sample(args)
        elif args.command == "demo":
            from .demo import run_demo
            run_demo(args.out, quick=args.quick)
        else:
            config_cls, train, _ = trainers[args.command]
            cfg = config_cls(**{k: v for k, v in vars(args).items() if k not in ("command", "preset")})
            result = train(cfg)
            s = result.summary
            if int(os.environ.get("RANK", "0")) == 0:       # under torchrun, one line from rank 0
                print(f"{args.command}: held-out accuracy {s['eval_accuracy']:.1%} after {s['steps']} steps "
                      f"in {s['wall_seconds']:.1f}s -> {result.out}/")
            import torch.distributed as dist
            if dist.is_available() and dist.is_initialized():   # torchrun: leave the process group cleanly
                dist.destroy_process_group()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
