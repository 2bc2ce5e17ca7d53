"""Test setup: 8 fake CPU devices and one prepared Fashion-MNIST per session.

`jax_num_cpu_devices` must be set before JAX touches a backend, so it is done
here at import time, before any test module imports ssl_jax.
"""

import atexit
import contextlib
import fcntl
import os
import shutil
import tempfile

# Compile time dominates the suite on CPU, and the same programs (the smoke
# step above all) are compiled by many tests, by both pytest-xdist workers
# and by the CLI subprocesses. A compilation cache that lives for this run
# only (so every run still compiles each program once), made by the process
# that starts the workers and passed to them and to the subprocesses through
# the environment. A size limit turns on JAX's file lock around reads and
# writes, so one process never reads an entry another is still writing.
if 'SSL_JAX_TEST_XLA_CACHE' not in os.environ:
  os.environ['SSL_JAX_TEST_XLA_CACHE'] = tempfile.mkdtemp(
      prefix='ssl_jax_test_xla_cache_')
  atexit.register(shutil.rmtree, os.environ['SSL_JAX_TEST_XLA_CACHE'],
                  ignore_errors=True)
os.environ['JAX_COMPILATION_CACHE_DIR'] = os.environ['SSL_JAX_TEST_XLA_CACHE']
os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0.5'
os.environ['JAX_COMPILATION_CACHE_MAX_SIZE'] = str(8 << 30)
# Unoptimised XLA: correct, faster to compile, slower to run. Most tests run
# a few steps, where it wins (measured: 239 s vs 355 s for the train, method
# and parallel tests); subprocesses that train a few steps opt in with
# subprocess_env(), and tests that run many convolution steps (fine-tuning,
# ResNet-50, the CLI's evaluation) use optimised code (`optimised_xla`).
_UNOPTIMISED_XLA = {'JAX_DISABLE_MOST_OPTIMIZATIONS': '1'}

# The suite runs on the CPU. With libtpu installed (the `tpu` extra, for
# tests/test_aot.py), jax would otherwise probe for a TPU at start-up in
# every process, and warn that it found none; compiling for a TPU slice
# (ssl_jax.aot) needs no TPU backend.
os.environ['JAX_PLATFORMS'] = 'cpu'

# XLA:CPU's older elemental emitters instead of its fusion emitters: the
# suite's programs compile faster (measured on a 2-core EPYC: the 13
# smoke-config tests of test_method_configs.py 91 -> 68 s, fine-tuning and
# the convolution tests 85 -> 79 s). Tests only, and passed to the
# processes they start: for training itself the fusion emitters give faster
# steps (SimCLR's demo step 370 against 297 img/s without them).
if '--xla_cpu_use_fusion_emitters' not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             ' --xla_cpu_use_fusion_emitters=false').strip()

import jax  # pylint: disable=g-import-not-at-top

jax.config.update('jax_num_cpu_devices', 8)
jax.config.update('jax_threefry_partitionable', True)
jax.config.update('jax_disable_most_optimizations', True)

import pytest  # pylint: disable=g-import-not-at-top

from ssl_jax.data import fashion_mnist_offline  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_CONFIG = os.path.join(REPO, 'configs', 'simclr_fashion_mnist.py')


def subprocess_env(unoptimised: bool = True, **extra) -> dict[str, str]:
  """The environment for a process a test starts: this one's (so the
  session's compilation cache is shared), the repository importable, and
  unoptimised XLA unless the process runs long enough to want optimised
  code; unbuffered, for tests that read its output as it comes."""
  return dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED='1',
              **(_UNOPTIMISED_XLA if unoptimised else {}), **extra)


@pytest.fixture(autouse=True, scope='module')
def _release_compiled_programs():
  """Frees every module's compiled programs when it ends.

  Each XLA:CPU executable keeps memory mappings for its machine code; one
  process compiling the whole suite's programs (hundreds, many for 8
  devices) otherwise grows towards the kernel's vm.max_map_count and XLA
  aborts in a later compile.
  """
  yield
  jax.clear_caches()


@contextlib.contextmanager
def optimised_xla():
  """XLA's optimisations on for what the `with` compiles: ResNet steps run
  several times faster, which pays for the longer compiles when a test runs
  many. Only around those steps: the model's init, compiled optimised,
  takes 22 s instead of 1.8 s (a smoke ResNet, 2-core EPYC)."""
  before = jax.config.read('jax_disable_most_optimizations')
  jax.config.update('jax_disable_most_optimizations', False)
  try:
    yield
  finally:
    jax.config.update('jax_disable_most_optimizations', before)


@pytest.fixture(scope='session')
def fmnist_data_dir(tmp_path_factory):
  """A tfds data_dir with fashion_mnist_offline prepared from Debian's files.

  Prepared once for the whole run: pytest-xdist's workers share the folder
  above their own temporary roots, and the first to take the lock writes
  it (about 40 s), the others read it.

  The real dataset is a hard requirement of the suite (CI installs
  dataset-fashion-mnist); a missing package fails loudly, it is not skipped.
  """
  missing = fashion_mnist_offline.missing_files(fashion_mnist_offline.DEBIAN_DIR)
  assert not missing, fashion_mnist_offline.INSTALL_HINT
  shared = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    shared = shared.parent  # Common to this run's workers.
  data_dir = shared / 'fmnist_tfds'
  from ssl_jax.data import sources  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  with open(shared / 'fmnist_tfds.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # Released when the file closes.
    sources.get_builder(ml_collections.ConfigDict(
        {'name': 'fashion_mnist_offline', 'data_dir': str(data_dir)}))
  return str(data_dir)


def load_config(preset='smoke'):
  """The SimCLR Fashion-MNIST config, as the CLI would load it (locked)."""
  from ssl_jax import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load_file(f'{SMOKE_CONFIG}:{preset}')
  config.lock()
  return config


@pytest.fixture
def smoke_config(fmnist_data_dir):
  config = load_config('smoke')
  config.data.data_dir = fmnist_data_dir
  config.checkpoint.async_save = False
  return config


def missing_extra(why: str, module_level: bool = False):
  """A test that needs an optional extra which is not installed: skipped,
  saying what to install, on a user's machine; a failure under CI
  (`CI=true`) and under launch/test.sh (which installs every extra the suite
  uses and says so in SSL_JAX_TEST_EXTRAS), so a broken install can never
  pass as a skip."""
  if (os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
      or os.environ.get('SSL_JAX_TEST_EXTRAS')):
    pytest.fail(f'CI must run this test: {why}', pytrace=False)
  pytest.skip(why, allow_module_level=module_level)

