"""Settings for every test: silent broadcasting is an error, XLA compiles with its classic
CPU emitters, and one run compiles each program once (a persistent compilation cache shared by
all tests and their subprocesses)."""

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
os.environ["XLA_FLAGS"] = " ".join(
  [os.environ.get("XLA_FLAGS", ""), "--xla_cpu_use_fusion_emitters=false"]
).strip()
# Lowering writes a Python traceback into every op's location; nothing here reads them.
jax.config.update("jax_include_full_tracebacks_in_locations", False)
jax.config.update("jax_traceback_in_locations_limit", 0)

_CACHE_KEY = pytest.StashKey[str]()


def pytest_configure(config):
  """Tests build the same small models again and again (and eager Flax code re-traces each
  `lax.scan` into a new jaxpr that the in-memory jit cache does not recognise), so identical
  programs are looked up by content in a cache that lives as long as the run. Every program
  is cached, however quick its compile: most of them are tiny. Subprocesses started by
  tests inherit the cache through the environment."""
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


@pytest.fixture(scope="module")
def quick_compiles():
  """For modules that compile many tiny programs: skip XLA's optimisation passes (a tiny LRU
  train step compiled in ~4.6 s of CPU instead of ~8 s here; results agree to float
  tolerance). Use with `pytestmark = pytest.mark.usefixtures("quick_compiles")`."""
  previous = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", previous)
