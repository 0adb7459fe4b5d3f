"""minirl: reinforcement learning for language models, small enough to read in an afternoon.

One tiny GPT (model.py) is trained with SFT, REINFORCE, A2C, PPO (+ a reward model: RLHF), DPO
and GRPO on toy arithmetic. Start with chapters/01-vocabulary.md, or `python -m minirl --help`.
"""
__version__ = "0.1.0"
