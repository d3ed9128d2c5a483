r"""Sequence to sequence: encoder-decoders (seq2seq.py) on G2P and synthetic transductions.

Presets 'MODEL,TASK': MODEL in lstm, gru, convs2s, transformer (registry names seq2seq_lstm,
seq2seq_gru, convs2s, transformer_s2s), TASK in g2p (CMUdict), g2p_large (the same at twice the
size), reverse, sort, addition. At one task the four models have parameter counts within 10%
of each other (pinned in tests/test_seq2seq.py); the recurrent encoders are bidirectional
(hidden/2 units each way) and one layer deep (--config.arch.encoder_layers stacks more),
attention is additive.

Training goes through the one trainer; decoding (greedy and beam search) and its metrics are a
second command on the trained workdir. The table of docs/seq2seq.md is written from the
runs' files by experiments/seq2seq_table.py:

  D=../shared/data
  python -m experiments.train --config=cnnrnn_jax/configs/seq2seq.py:lstm,g2p \
      --config.data.train_path=$D/cmudict/cmudict.dict --seeds=0 --workdir=runs/s2s/lstm_g2p
  python -m experiments.decode --workdir=runs/s2s/lstm_g2p --beams=1,5

  python -m experiments.train --config=cnnrnn_jax/configs/seq2seq.py:lstm,reverse \
      --seeds=0 --workdir=runs/s2s/lstm_reverse
  python -m experiments.decode --workdir=runs/s2s/lstm_reverse --beams=1 --eval_lens=20,40

  python -m experiments.seq2seq_table --workdirs=runs/s2s
"""

import ml_collections

from cnnrnn_jax.configs import default

MODELS = {
  "lstm": "seq2seq_lstm",
  "gru": "seq2seq_gru",
  "convs2s": "convs2s",
  "transformer": "transformer_s2s",
}
# task -> (registered task, data overrides, run overrides, {model: arch overrides})
TASKS = {
  "g2p": (
    "cmudict",
    {},
    {"batch_size": 128, "train_steps": 8000, "eval_every": 2000, "checkpoint_every": 1000},
    {
      "lstm": {"hidden": 256, "embed_dim": 128},
      "gru": {"hidden": 286, "embed_dim": 128},
      "convs2s": {"hidden": 176, "num_layers": 3, "embed_dim": 128},
      "transformer": {"hidden": 144, "num_layers": 3, "embed_dim": 128},
    },
  ),
  "reverse": (
    "reverse",
    {"seq_len": 20},
    {"batch_size": 64, "train_steps": 2000, "eval_every": 1000, "checkpoint_every": 1000},
    {
      "lstm": {"hidden": 128, "embed_dim": 32},
      "gru": {"hidden": 142, "embed_dim": 32},
      "convs2s": {"hidden": 84, "num_layers": 3, "embed_dim": 32},
      "transformer": {"hidden": 68, "num_layers": 3, "embed_dim": 32},
    },
  ),
}
# The same G2P task at about twice the size (2.65-2.71M parameters), the scale axis of the
# comparison: does the ranking hold when every family grows?
TASKS["g2p_large"] = (
  "cmudict",
  {},
  TASKS["g2p"][2],
  {
    "lstm": {"hidden": 384, "embed_dim": 128},
    "gru": {"hidden": 430, "embed_dim": 128},
    "convs2s": {"hidden": 256, "num_layers": 3, "embed_dim": 128},
    "transformer": {"hidden": 208, "num_layers": 3, "embed_dim": 128},
  },
)
TASKS["sort"] = ("sort",) + TASKS["reverse"][1:]
# Addition is the slow learner of the three: under the reverse/sort schedule no family learns
# whole sums. It trains five times longer on twice the batch, and without
# dropout (a fresh batch every step cannot be memorised; the answer must be exact).
TASKS["addition"] = (
  "addition",
  {"seq_len": 5},
  {"batch_size": 128, "train_steps": 10000, "eval_every": 2000, "checkpoint_every": 1000},
  {name: {**arch, "dropout": 0.0} for name, arch in TASKS["reverse"][3].items()},
)


# Variations on a preset, outside the matched comparison (docs/seq2seq.md, "Beyond the matched
# presets"): NAME -> (preset, changed settings). `--config=cnnrnn_jax/configs/seq2seq.py:NAME`
# trains one; its results table reads the run folder runs/s2s_variants/NAME.
VARIANTS = {
  "lstm_g2p_drop03": ("lstm,g2p", {"train_steps": 20000, "arch.dropout": 0.3}),
  "lstm_g2p_enc2": ("lstm,g2p", {"train_steps": 20000, "arch.encoder_layers": 2}),
  "lstm_g2p_large_enc2": (
    "lstm,g2p_large",
    {"train_steps": 12000, "arch.encoder_layers": 2, "arch.hidden": 320},
  ),
}


def get_config(preset: str = "lstm,g2p") -> ml_collections.ConfigDict:
  """`preset`: 'MODEL,TASK' with MODEL in MODELS and TASK in TASKS, or a name in VARIANTS."""
  if preset in VARIANTS:
    base, changes = VARIANTS[preset]
    config = get_config(base)
    config.update_from_flattened_dict(changes)
    return config
  name, _, task = preset.partition(",")
  task = task or "g2p"
  if name not in MODELS or task not in TASKS:
    raise ValueError(
      f"unknown seq2seq preset {preset!r}; use MODEL,TASK with MODEL in {sorted(MODELS)} "
      f"and TASK in {sorted(TASKS)}, or one of {sorted(VARIANTS)}"
    )
  registered, data, run, arch = TASKS[task]
  config = default.get_config(f"{MODELS[name]},{registered}")
  config.data.update(data)
  config.update(run)
  config.log_every = 100
  config.opt.learning_rate = 3e-3
  config.opt.warmup_steps = 200
  config.arch.dropout = 0.2
  config.arch.bidirectional = name in ("lstm", "gru")
  config.arch.num_heads = 4
  config.arch.update(arch[name])
  return config
