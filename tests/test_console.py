"""The quiet console: the progress line (in place on a terminal, timed lines
otherwise, ETA) and library output sent to WORKDIR/log.txt."""

import glob
import io
import os
import sys
import tempfile

import pytest

from ssl_jax import console_log
from ssl_jax import guards
from ssl_jax import progress as progress_lib


class _Clock:

  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def _progress(tty, every=10.0, devices=1):
  clock, out = _Clock(), io.StringIO()
  p = progress_lib.Progress(100, 8, 0, every_seconds=every, stream=out,
                            tty=tty, clock=clock, devices=devices)
  return p, clock, out


def test_duration():
  assert progress_lib.duration(5) == '0:05'
  assert progress_lib.duration(125.4) == '2:05'
  assert progress_lib.duration(3 * 3600 + 62) == '3:01:02'
  assert progress_lib.duration(float('nan')) == '?'
  assert progress_lib.duration(float('inf')) == '?'


def test_line_has_step_loss_probe_rate_and_eta():
  p, clock, _ = _progress(tty=False, devices=2)
  clock.now += 30.0  # Compile.
  p.first_step_done(1)
  assert p.compile_seconds == 30.0
  # Before any step after the compile: no rate, no ETA yet.
  assert p.line(1, {'loss': 2.0}) == 'step 1/100  loss 2.0000  - img/s  ETA ?'
  clock.now += 4.0  # 10 steps of 8 images in 4 s: 20 img/s.
  assert p.images_per_second(11) == pytest.approx(20.0)
  # 89 steps x 8 images left at 20 img/s: 35.6 s.
  assert p.line(11, {'loss': 1.23456, 'probe_top1': 0.5}) == (
      'step 11/100  loss 1.2346  probe 0.500  20 img/s (10/device)  ETA 0:36')
  # The method's own loss, not the trainer's sum with the probe's.
  assert p.line(11, {'loss': 3.5, 'ssl_loss': 0.75, 'probe_top1': 0.5}) == (
      'step 11/100  loss 0.7500  probe 0.500  20 img/s (10/device)  ETA 0:36')


def test_plain_lines_every_n_seconds_when_not_a_terminal():
  p, clock, out = _progress(tty=False, every=10.0)
  p.first_step_done(1)
  assert p.due()  # The first line comes right after the compile.
  p.show(1, {'loss': 1.0})
  p.show(1, {'loss': 1.0})  # A step's line is shown once.
  clock.now += 9.9
  assert not p.due()
  clock.now += 0.1
  assert p.due()
  p.show(30, {'loss': 0.5})
  p.say('Stopped.')
  assert out.getvalue().splitlines() == [
      'step 1/100  loss 1.0000  - img/s  ETA ?',
      'step 30/100  loss 0.5000  23 img/s  ETA 0:24', 'Stopped.']


def test_a_terminal_line_is_rewritten_in_place_every_second():
  p, clock, out = _progress(tty=True, every=10.0)
  p.first_step_done(1)
  p.show(1, {'loss': 1.0})
  clock.now += 1.0
  assert p.due()  # A terminal: every second, whatever every_seconds says.
  p.show(2, {'loss': 0.9})
  p.say('Stopped.')  # Ends the line first.
  p.close()  # Nothing open: no second newline.
  assert out.getvalue() == (
      '\rstep 1/100  loss 1.0000  - img/s  ETA ?\x1b[K'
      '\rstep 2/100  loss 0.9000  8 img/s  ETA 1:38\x1b[K\nStopped.\n')


def _temporary_logs():
  return set(glob.glob(os.path.join(tempfile.gettempdir(), 'ssl_jax_log_*')))


def test_library_output_goes_to_the_log_and_own_warnings_to_the_console(
    tmp_path, capfd):
  before = _temporary_logs()
  workdir = tmp_path / 'run'
  with console_log.quiet(str(workdir)):
    os.write(2, b'I0000 port.cc:153] oneDNN banner from C++\n')
    # Python's warnings and absl's lines are written to sys.stderr.
    print('DeprecationWarning: old API', file=sys.stderr)
    print('for the user')
    os.makedirs(workdir)  # train.run: the checks passed, the workdir made.
    console_log.follow(str(workdir))
    # ssl_jax's own warning (a skipped non-finite step) reaches the user.
    guards.NonFiniteGuard(1).check(3, {'nonfinite': 1.0})
    print('written late', file=sys.stderr)
  out, err = capfd.readouterr()
  assert out == 'for the user\n'
  assert err == ('WARNING: Step 3: non-finite loss or gradient; update '
                 'skipped (1 of 1 allowed in a row).\n')
  log = (workdir / console_log.LOG).read_text()
  # (absl's handler, which a CLI installs, also logs the warning there.)
  for text in ('oneDNN banner', 'old API', 'written late'):
    assert text in log, text
  assert _temporary_logs() == before


def test_a_refused_command_leaves_no_log_and_its_fatal_line_is_seen(
    tmp_path, capfd):
  before = _temporary_logs()
  (tmp_path / 'config.json').write_text('{')  # An existing workdir.
  with pytest.raises(SystemExit) as e:
    with console_log.quiet(str(tmp_path)):
      os.write(2, b'banner\n')
      sys.exit('FATAL: UserError: bad input')
  assert e.value.code == 'FATAL: UserError: bad input'  # Printed by Python.
  assert capfd.readouterr().err == ''  # The banner is not.
  assert os.listdir(tmp_path) == ['config.json']
  assert _temporary_logs() == before
  assert console_log.console() is sys.stderr  # Restored.
