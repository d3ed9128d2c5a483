"""configs/bai2018.py: the paper's parameter budgets and T, and every preset trains."""

import jax
import numpy as np
import pytest

from cnnrnn_jax import models, train
from cnnrnn_jax.configs import bai2018

# All parameters (embedding and head included), the same at both scales.
PARAMS = {
  ("tcn", "adding"): 70_369,
  ("lstm", "adding"): 69_291,
  ("gru", "adding"): 69_451,
  ("tcn", "copy_memory"): 13_329,
  ("lstm", "copy_memory"): 15_631,
  ("gru", "copy_memory"): 15_287,
}
# Sequence length the model sees: adding T; copy memory T + 20 (T = the blank gap).
SEQ_LEN = {
  ("adding", False): 100,
  ("adding", True): 600,
  ("copy_memory", False): 120,
  ("copy_memory", True): 1020,
}
PRESETS = [(model, task, paper) for model, task in PARAMS for paper in (False, True)]


def _config(model, task, paper):
  return bai2018.get_config(f"{model},{task}" + (",paper" if paper else ""))


@pytest.mark.parametrize("model,task,paper", PRESETS)
def test_presets_have_the_paper_budget_and_length(model, task, paper):
  config = _config(model, task, paper)
  task_obj, net = train.setup(config)
  assert task_obj.spec.seq_len == SEQ_LEN[task, paper]
  assert models.parameter_counts(net)[0] == PARAMS[model, task]
  budget = 70_000 if task == "adding" else 16_000
  assert 0.8 < PARAMS[model, task] / budget < 1.02
  assert config.train_steps == (bai2018.STEPS[task][1] if paper else 1000)


@pytest.mark.slow  # trains each preset
@pytest.mark.parametrize("model,task", list(PARAMS))
def test_every_model_trains_two_steps(model, task):
  """At CPU scale: the paper-scale presets differ only in T and train_steps (tested above)."""
  config = _config(model, task, paper=False)
  config.batch_size = 2
  task_obj, net = train.setup(config)
  state = first = train.init_state(config, task_obj, net)
  step = jax.jit(lambda s, b, r: train.train_step(s, b, r, spec=task_obj.spec))
  losses = []
  for i in range(2):  # the learning rate warms up from 0: only the second step moves
    state, sums = step(state, task_obj.train_batch(i, 2), jax.random.PRNGKey(0))
    losses.append(float(sums["loss"]) / float(sums["count"]))
  assert int(state.step) == 2 and all(np.isfinite(losses))
  assert losses[0] > 0.1 * task_obj.spec.baseline  # an untrained model is not near zero loss
  moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), first.params, state.params)
  assert 0 < max(jax.tree.leaves(moved)) < 0.1


def test_a_bad_preset_names_the_accepted_forms():
  with pytest.raises(ValueError, match="'MODEL,TASK' or 'MODEL,TASK,paper'"):
    bai2018.get_config("tcn,order")
