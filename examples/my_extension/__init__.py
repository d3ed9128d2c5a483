"""A worked extension of cnnrnn_jax, outside the package: a model, a task and a probe.

  PYTHONPATH=examples python -m experiments.train --config.plugins=my_extension \
      --config.model=qrnn --config.task=parens --workdir=runs/qrnn_parens

Importing this package registers all three (each module can be named alone as well):
  qrnn      model.py: a quasi-recurrent network (Bradbury et al. 2017), causal convolution
            gates + fo-pooling computed as a parallel linear scan; settings arch.qrnn_*
  parens    task.py: is a bracket sequence balanced? (equal counts in every example, so
            counting tokens cannot answer); setting data.parens_max_depth
  reversal  probe.py: the accuracy of the comparison's order runs when every sequence is
            read backwards; its section in the report; setting probes.reversal.*
"""

from my_extension import model, probe, task  # noqa: F401  (importing registers)
