"""TPU chips and slices for compiling ahead of time (aot.py).

The published per-chip figures of the TPU generations ssl_jax compiles for,
and the abstract devices of a slice that is not attached to this machine
(`jax.experimental.topologies`, which needs `libtpu` installed but no TPU).

Figures: Google Cloud's TPU system-architecture pages (bf16 dense peak,
HBM capacity and bandwidth per chip). v4 and v5p chips hold two
TensorCores that jax runs as one device ("megacore") on a real slice.
libtpu's abstract v4 topology lists each core as a device unless it is
asked for the megacore chip configuration, and jax's mesh builder refuses
a core per device, so those slices are built as megacore: one device per
chip, as on the real slice. Per-device figures divide the chip's by the
devices per chip (1 on every kind built here).
"""

import dataclasses
import importlib.util
import os

from ssl_jax import config_lib

INSTALL_HINT = (
    "install the optional extra that pins libtpu to this jax: pip install "
    "-c constraints.txt -e '.[tpu]' (or pip install 'jax[tpu]==<your jax "
    "version>'); about 700 MB, no TPU needed")


class TopologyError(config_lib.UserError):
  """An unknown TPU kind, a malformed slice, or libtpu missing."""


@dataclasses.dataclass(frozen=True)
class Chip:
  """One TPU chip's published figures."""
  kind: str
  bf16_tflops: float
  hbm_gib: float
  hbm_gbps: float  # HBM bandwidth, GB/s.
  megacore: bool = False  # Two TensorCores run as one device.

  @property
  def peak_flops(self) -> float:
    return self.bf16_tflops * 1e12

  @property
  def hbm_bytes(self) -> int:
    return int(self.hbm_gib * 2**30)

  @property
  def hbm_bytes_per_second(self) -> float:
    return self.hbm_gbps * 1e9


CHIPS = {
    'v4': Chip('v4', bf16_tflops=275.0, hbm_gib=32.0, hbm_gbps=1200.0,
               megacore=True),
    'v5e': Chip('v5e', bf16_tflops=197.0, hbm_gib=16.0, hbm_gbps=819.0),
    'v5p': Chip('v5p', bf16_tflops=459.0, hbm_gib=95.0, hbm_gbps=2765.0,
                megacore=True),
    'v6e': Chip('v6e', bf16_tflops=918.0, hbm_gib=32.0, hbm_gbps=1640.0),
}


@dataclasses.dataclass(frozen=True)
class Slice:
  """The abstract devices of a TPU slice, e.g. 'v5p:2x2x1'."""
  name: str
  chip: Chip
  devices: tuple
  num_chips: int

  @property
  def devices_per_chip(self) -> int:
    return len(self.devices) // self.num_chips

  @property
  def num_hosts(self) -> int:
    return len({d.process_index for d in self.devices})


def parse(topology: str) -> tuple[Chip, str]:
  """'v5p:2x2x1' -> (the v5p Chip, '2x2x1'), refusing unknown kinds."""
  kind, sep, shape = topology.partition(':')
  if kind.partition('-')[0] in CHIPS and not sep:
    raise TopologyError(
        f'--topology={topology!r} is an accelerator type; give the chips '
        f'as KIND:AxB or KIND:AxBxC instead (e.g. v5p:2x2x1 for v5p-8, '
        'v5e:2x4 for v5litepod-8).')
  if kind not in CHIPS:
    raise TopologyError(
        f'--topology={topology!r}: unknown TPU kind {kind!r}; known kinds: '
        f'{sorted(CHIPS)} (e.g. v5p:2x2x1, v4:2x2x2, v5e:2x2, v6e:4x4).')
  dims = shape.split('x')
  if not sep or not all(d.isdigit() and int(d) > 0 for d in dims):
    raise TopologyError(
        f'--topology={topology!r}: expected KIND:AxB or KIND:AxBxC chips '
        '(e.g. v5p:2x2x1, v5e:4x4).')
  return CHIPS[kind], shape


def require_libtpu() -> None:
  if importlib.util.find_spec('libtpu') is None:
    raise TopologyError(
        'Compiling for a TPU on this machine needs the libtpu package, '
        f'which is not installed: {INSTALL_HINT}.')


def get_slice(topology: str) -> Slice:
  """The abstract devices of `topology`; no TPU needs to be attached."""
  chip, _ = parse(topology)
  require_libtpu()
  # libtpu takes a machine-wide lock file when it loads, so a second
  # compiling process (a benchmark beside the CLI, parallel tests) would
  # fail. No TPU is driven here, only the compiler: share it.
  os.environ.setdefault('ALLOW_MULTIPLE_LIBTPU_LOAD', '1')
  from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
  try:
    # v5e/v6e chips have one core and no megacore configuration to ask for.
    extra = {'chip_config_name': 'megacore'} if chip.megacore else {}
    desc = topologies.get_topology_desc(topology_name=topology,
                                        platform='tpu', **extra)
  except Exception as e:  # pylint: disable=broad-except
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else ''
    raise TopologyError(
        f'--topology={topology!r} is not a {chip.kind} slice libtpu can '
        f'build: {first_line}') from None
  devices = tuple(desc.devices)
  chips = len({tuple(d.coords) for d in devices})
  return Slice(topology, chip, devices, chips)
