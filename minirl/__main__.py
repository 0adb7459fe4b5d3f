"""The command line: `minirl <command> [--flags]` (or `python -m minirl ...`).

Training commands get their flags from their Config dataclass (every field, with its help text,
its default and its valid range). Flags may be written with underscores or hyphens
(`--batch_size 32` or `--batch-size 32`):

    minirl sft --steps 1000 --out runs/sft
    minirl grpo --init runs/weak/model.pt
    minirl eval --init runs/sft/model.pt
    minirl sample --init runs/sft/model.pt --prompt 12+34=

Errors in flags or files end the command with a one-line message and exit code 2, before
anything is written; Ctrl-C ends a run with exit code 130 and says how to --resume it.
Every command: README.md, "The command line".
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
import typing
from pathlib import Path

import torch
import torch.distributed as dist

from .checkpoint import load_model, read_checkpoint
from .config import GROUPS, ConfigError, check_value, describe_range, preset_defaults
from .demo import run_demo
from .device import pick_device
from .evaluation import evaluate
from .rollout import sample
from .starts import cmd_starts
from .tasks import heldout_subset, make_task
from .tokenizer import CharTokenizer

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
         "demo": "the main job: SFT to a weak model, then RL (see README)",
         "starts": "the starting checkpoints that ship with minirl: list, verify, or train one "
                   "again"}


def available_trainers() -> dict:
    out = {}
    for name, mod in TRAINERS.items():
        try:
            out[name] = importlib.import_module(mod).CLI
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
    return out


def add_flag(parser, name: str, **kw):
    """--batch_size, and its hyphenated spelling --batch-size as a hidden alias: both work."""
    parser.add_argument(f"--{name}", dest=name, **kw)
    if "_" in name:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name,
                            **{**kw, "help": argparse.SUPPRESS})


def add_config_flags(parser: argparse.ArgumentParser, config_cls):
    """One flag per config field; --help lists the algorithm's own flags first, then the shared
    groups (config.GROUPS)."""
    hints = typing.get_type_hints(config_cls)
    own = parser.add_argument_group(f"{config_cls.__name__.removesuffix('Config')} flags")
    groups = {}
    for title, group in GROUPS.items():
        shown = parser.add_argument_group(title)
        groups.update({f.name: shown for f in dataclasses.fields(group)})
    for f in dataclasses.fields(config_cls):
        if not f.init:
            continue
        where = groups.get(f.name, own)
        kind = hints[f.name]
        help_text = f.metadata.get("help", "").replace("%", "%%")
        if kind in (int, float) and "choices" not in f.metadata:
            help_text += f"; valid: {describe_range(dict(f.metadata), implicit_max=False)}"
        if kind is bool:
            add_flag(where, f.name, action=argparse.BooleanOptionalAction, default=f.default,
                     help=help_text)
        else:
            add_flag(where, f.name, type=kind, default=f.default, metavar=kind.__name__.upper(),
                     help=help_text)
    for old, new in getattr(config_cls, "RENAMED", {}).items():       # old names, hidden
        for spelling in dict.fromkeys((f"--{old}", f"--{old.replace('_', '-')}")):
            parser.add_argument(spelling, dest=new, type=hints[new], action=RenamedFlag,
                                default=argparse.SUPPRESS, help=argparse.SUPPRESS)


class RenamedFlag(argparse.Action):
    """A flag's old name (a config's RENAMED): sets the new field and says the new name."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {option_string} is now --{self.dest} (the old name works for this release)",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help lists every flag with its default."""


def build_parser(trainers: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minirl", description="minirl: RL for language models, "
                                     "small enough to read, run on a laptop CPU.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (config_cls, _, desc) in trainers.items():
        p = sub.add_parser(name, help=desc,
                           description=desc + " (flags: --a_b and --a-b both work)",
                           formatter_class=HelpFormatter)
        add_config_flags(p, config_cls)
        p.add_argument("--preset", default=None,
                       help="a named set of defaults, e.g. gpu (see config.PRESETS)")
        add_flag(p, "dry_run", action="store_true",
                 help="check the flags and print the resolved config; train nothing, write nothing")
    p = sub.add_parser("eval", help=OTHER["eval"], description=OTHER["eval"],
                       formatter_class=HelpFormatter)
    p.add_argument("--init", required=True, help="checkpoint to evaluate (a model.pt)")
    p.add_argument("--task", default=None,
                   help="task (default: the one the checkpoint was trained on)")
    p.add_argument("--n", type=int, default=500,
                   help="held-out problems to score (at most the split size)")
    p.add_argument("--samples", type=int, default=8,
                   help="labelled completions to show, from across the set")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p = sub.add_parser("sample", help=OTHER["sample"], description=OTHER["sample"],
                       formatter_class=HelpFormatter)
    p.add_argument("--init", required=True, help="checkpoint to sample from (a model.pt)")
    p.add_argument("--prompt", action="append", default=None,
                   help="a prompt such as 12+34= (repeatable); "
                   "default: five held-out problems from across the set")
    p.add_argument("--n", type=int, default=1, help="samples per prompt")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    add_flag(p, "top_k", type=int, default=None,
             help="sample among the k most likely tokens (default: all)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p = sub.add_parser("demo", help=OTHER["demo"], description=OTHER["demo"],
                       formatter_class=HelpFormatter)
    p.add_argument("--out", default="runs/demo",
                   help="folder for both phases and the plot (replaced if it exists)")
    p.add_argument("--quick", action="store_true", help="a much shorter run (smoke test)")
    add_flag(p, "retrain_start", action="store_true",
             help="train the weak start here (200 SFT steps) instead of loading the shipped one")
    p = sub.add_parser("starts", help=OTHER["starts"], description=OTHER["starts"],
                       formatter_class=HelpFormatter)
    p.add_argument("--verify", action="store_true",
                   help="check every shipped file against its sha256")
    p.add_argument("--rebuild", default=None, metavar="NAME",
                   help="train the start NAME again with its recorded command (the result "
                   "matches the shipped file only on the same kind of CPU)")
    p.add_argument("--out", default=None, help="folder for --rebuild (default runs/start_NAME)")
    parser.commands = sub.choices            # command name -> its own parser
    return parser


def parse(parser: argparse.ArgumentParser, argv):
    """parse_args, except that an unknown flag is reported with the subcommand's usage, not the
    top level's."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = parser.commands.get(args.command) if args.command else None
        (sub or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _load_for_inference(args):
    ckpt = read_checkpoint(args.init)
    t = ckpt["task"]
    task = make_task(getattr(args, "task", None) or t["name"], reverse=t["reverse"], pad=t["pad"])
    tok = CharTokenizer()
    model, _ = load_model(args.init, tok, task, pick_device(args.device), kind="GPT")
    return model, tok, task


def cmd_eval(args):
    check_value("n", args.n, int, {"at_least": 1})
    check_value("samples", args.samples, int, {"at_most": 500})
    model, tok, task = _load_for_inference(args)
    n = min(args.n, len(task.heldout()))
    acc, samples = evaluate(model, tok, task, pairs=heldout_subset(task, n),
                            n_samples=min(args.samples, n))
    print(f"{task.name} (reverse={task.reverse}, pad={task.pad}): held-out exact match {acc:.1%} "
          f"on {n} problems")
    for s in samples:
        print("  " + task.show(s["prompt"], s["response"]))
    return acc


def check_prompt(prompt: str, tok, task, block_size: int):
    """A prompt the model can complete, or a ConfigError naming what is wrong with it."""
    if not prompt:
        raise ConfigError("--prompt is empty; give a problem such as 12+34=")
    try:
        ids = tok.encode(prompt)
    except ValueError as e:
        raise ConfigError(f"--prompt {prompt!r}: {e}") from None
    if 1 + len(ids) + task.max_answer_len + 1 > block_size:
        raise ConfigError(f"--prompt {prompt!r} is too long for this model (block size "
                          f"{block_size}, room for {block_size - task.max_answer_len - 2} prompt "
                          f"characters); use a shorter problem")


def cmd_sample(args):
    check_value("n", args.n, int, {"at_least": 1, "at_most": 1024})
    check_value("temperature", args.temperature, float, {"at_most": 100})
    if args.top_k is not None:
        check_value("top_k", args.top_k, int, {"at_least": 1})
    check_value("seed", args.seed, int, {"at_most": 2 ** 32 - 1})
    model, tok, task = _load_for_inference(args)
    torch.manual_seed(args.seed)
    held = task.heldout()
    prompts = args.prompt or [task.prompt(*held[i * len(held) // 5]) for i in range(5)]
    for p in prompts:
        check_prompt(p, tok, task, model.config.block_size)
    r = sample(model, tok, task, prompts, samples_per_prompt=args.n, temperature=args.temperature,
               top_k=args.top_k, greedy=args.temperature == 0, logprobs=False)
    for p, text in zip(r.prompts, r.texts):
        print(task.show(p, text))


def report(command: str, result):
    """The one line a finished training command prints."""
    s = result.summary
    score = (f"held-out accuracy {s['eval_accuracy']:.1%}" if "eval_accuracy" in s
             else f"held-out pairwise accuracy {s['heldout_pair_accuracy']:.1%}")
    print(f"{command}: {score} after {s['steps']} steps in {s['wall_seconds']:.1f}s "
          f"-> {result.out}/")


def main(argv=None):
    trainers = available_trainers()
    parser = build_parser(trainers)
    args = parse(parser, argv)
    if getattr(args, "preset", None):         # re-parse with the preset's values as the defaults
        try:
            names = {f.name for f in dataclasses.fields(trainers[args.command][0])}
            parser.commands[args.command].set_defaults(
                **preset_defaults(args.preset, args.command, names))
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        args = parse(parser, argv)
    if args.command is None:
        parser.print_help()
        return 2
    cfg = None
    try:
        if args.command == "eval":
            cmd_eval(args)
        elif args.command == "sample":
            cmd_sample(args)
        elif args.command == "demo":
            run_demo(args.out, quick=args.quick, retrain_start=args.retrain_start)
        elif args.command == "starts":
            return cmd_starts(verify=args.verify, rebuild_name=args.rebuild, out=args.out)
        else:
            config_cls, train, _ = trainers[args.command]
            check_world_size(args.command)
            cfg = config_cls(**{k: v for k, v in vars(args).items()
                                if k not in ("command", "preset", "dry_run")})
            if args.dry_run:
                cfg.validate()
                print(json.dumps({"command": args.command, **cfg.to_dict()}, indent=2))
                return 0
            result = train(cfg)
            if int(os.environ.get("RANK", "0")) == 0:       # under torchrun, one line from rank 0
                report(args.command, result)
            # torchrun: leave the process group cleanly, together (rank 0 may still be writing)
            if dist.is_available() and dist.is_initialized():
                dist.barrier()
                dist.destroy_process_group()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted. {resume_hint(args.command, cfg)}", file=sys.stderr)
        return 130
    return 0


# --- torchrun: only the trainers that split a batch over processes (device.init_distributed) ---
DDP_TRAINERS = ("sft", "grpo")


def check_world_size(command: str):
    """Refuse `torchrun --nproc_per_node N` (WORLD_SIZE > 1) for a trainer without data
    parallelism: each process would train alone, as "rank 0", and all would write the same
    --out."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and command not in DDP_TRAINERS:
        raise ConfigError(f"`{command}` runs in one process only (torchrun: WORLD_SIZE={world}); "
                          f"only {' and '.join(DDP_TRAINERS)} split a batch over processes")


def resume_hint(command: str, cfg) -> str:
    """What to type to continue an interrupted run (from its last --save_every checkpoint)."""
    out = Path(getattr(cfg, "out", "") or f"runs/{command}")
    ckpt = out / "model.pt"
    if cfg is None or not hasattr(cfg, "resume") or not ckpt.exists():
        return "No checkpoint was saved (use --save_every N to save one every N steps)."
    step = read_checkpoint(ckpt).get("step", "?")
    return (f"The last checkpoint (step {step}) is in {ckpt}; to continue, run the same command "
            f"again with --resume (and --out {out}).")


if __name__ == "__main__":
    sys.exit(main())
