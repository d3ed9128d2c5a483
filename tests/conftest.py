"""Settings for every test: silent broadcasting is an error, XLA compiles quickly (its classic
CPU emitters, most optimisation passes skipped) and each program once per test process (a
persistent compilation cache shared by the tests of one process and the subprocesses they
start; each xdist worker has its own)."""

import os
import shutil
import tempfile

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

# The test suite's cost is XLA compiling hundreds of small programs (every eager op is one).
# XLA's classic CPU fusion emitters compile them in about 40-60% of the CPU time of the MLIR
# emitters that are the default, with the same results to float tolerance. XLA reads the flag
# when the CPU backend starts, so it is set before any test runs; subprocesses inherit it.
# XLA also splits each program's LLVM module into parts that it compiles on several threads; for
# programs this small the splitting costs more CPU than it saves (compiling six of the tests'
# train steps twice took 25-30% less CPU time in one part, paired runs in one process each), and
# with one test worker per core there is no idle core for the extra threads anyway.
os.environ["XLA_FLAGS"] = " ".join(
  [
    os.environ.get("XLA_FLAGS", ""),
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_cpu_parallel_codegen_split_count=1",
  ]
).strip()
# XLA's optimisation passes cost more than the tiny programs of the tests gain from them (a tiny
# LRU train step compiled in ~4.6 s of CPU instead of ~8 s; the example's command-line run in
# 53 s of CPU instead of 75 s); results agree to float tolerance. Set in the environment too, so
# every subprocess a test starts compiles as the test's own process does (runs compared bit for
# bit across processes need that).
os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
jax.config.update("jax_disable_most_optimizations", True)
# Lowering writes a Python traceback into every op's location; nothing here reads them.
jax.config.update("jax_include_full_tracebacks_in_locations", False)
jax.config.update("jax_traceback_in_locations_limit", 0)

_CACHE_KEY = pytest.StashKey[str]()


def pytest_configure(config):
  """Tests build the same small models again and again (and eager Flax code re-traces each
  `lax.scan` into a new jaxpr that the in-memory jit cache does not recognise), so identical
  programs are looked up by content in a cache that lives as long as the run. Every program
  is cached, however quick its compile: most of them are tiny. Subprocesses started by
  tests inherit the cache through the environment. Each xdist worker runs this hook and makes
  its own folder (one shared by both workers measured no faster)."""
  cache = tempfile.mkdtemp(prefix="cnnrnn-jax-test-cache-")
  config.stash[_CACHE_KEY] = cache
  os.environ.update(
    {
      "JAX_COMPILATION_CACHE_DIR": cache,
      "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
      "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
  )
  jax.config.update("jax_compilation_cache_dir", cache)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
  cache = config.stash.get(_CACHE_KEY, None)
  if cache:
    shutil.rmtree(cache, ignore_errors=True)


# The fast tier (-m "not slow") also leaves out these tests, each of which compiles whole models
# for a second or more on 2 cores (measured with --durations=0), and every test that needs
# viz's trained models; a fast test of the same property stays in the tier (e.g. the trainer:
# test_train_step_compiles_once_and_overfits_a_tiny_batch; causality: tcn's and the scan's;
# the fused scan: test_fused_lstm_equals_flax_optimized_lstm_cell).
# The full suite runs them all.
SLOW_IN_FAST_TIER = {
  "test_backward_scans_and_flax_scans_are_counted_too",
  "test_bidirectional_and_pooled_readouts_are_padding_invariant",
  "test_bidirectional_module_concatenates_both_directions",
  "test_causal_decoder_never_sees_the_future_and_the_encoder_does",
  "test_causal_models_gradient_to_future_inputs_is_exactly_zero",
  "test_empirical_receptive_field_equals_the_computed_one",
  "test_fused_equals_scan_forward_and_backward",
  "test_fused_unrolled_and_module_switch",
  "test_language_models_are_causal",
  "test_last_valid_step_readout_ignores_padding",
  "test_match_param_budget_picks_the_width_knob_and_the_closest_width",
  "test_memory_of_backprop_through_time_grows_with_length",
  "test_mnist1d_and_shuffled",
  "test_non_finite_loss_stops_with_the_step",
  "test_modules_give_the_same_outputs_with_either_impl",
  "test_one_train_step_reaches_every_parameter",
  "test_reverse_reads_backwards_within_length",
  "test_step_times_gives_seconds_per_training_step_of_each_config",
  "test_text_steps_compile_once_per_bucket",
  "test_vmap_and_xla_convolutions_give_the_same_model",
  "test_weight_norm_makes_the_output_blind_to_the_kernel_scale",
}


def pytest_collection_modifyitems(config, items):
  for item in items:
    if item.originalname in SLOW_IN_FAST_TIER or "trained" in item.fixturenames:
      item.add_marker(pytest.mark.slow)
  # Slow tests first. pytest.ini hands each xdist worker whole files (--dist loadfile): the
  # tests of one file build the same models, so each program compiles once per file, not once
  # per worker (the suite took 259 s that way against 322 s handing out single tests, two
  # runs of one tree on an idle 2-core CPU); the files holding slow tests start first and the
  # short ones fill in behind them, instead of one long file finishing alone at the end.
  items.sort(key=lambda item: item.get_closest_marker("slow") is None)
