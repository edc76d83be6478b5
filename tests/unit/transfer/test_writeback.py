import errno
import os

from glance_store_cinder.transfer import writeback
from glance_store_cinder.transfer.device import FdDevice


class Recorder:
    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail

    def __call__(self, fd, offset, length, flags):
        if self.fail:
            raise OSError(self.fail, "nope")
        self.calls.append((offset, length, flags))


def test_starts_writeback_per_window_and_waits_for_the_one_before_last():
    rec = Recorder()
    wb = writeback.Writeback(3, window=10, sync_range=rec)
    for offset in range(0, 40, 5):
        wb.wrote(offset, 5)
    waits = [c for c in rec.calls if c[2] & writeback.WAIT_AFTER]
    starts = [c for c in rec.calls if c[2] == writeback.WRITE]
    assert starts == [(0, 10, writeback.WRITE), (10, 10, writeback.WRITE),
                      (20, 10, writeback.WRITE), (30, 10, writeback.WRITE)]
    assert [(o, n) for o, n, _ in waits] == [(0, 10), (10, 10), (20, 10)]


def test_small_writes_below_a_window_do_nothing():
    rec = Recorder()
    wb = writeback.Writeback(3, window=100, sync_range=rec)
    wb.wrote(0, 99)
    assert rec.calls == []


def test_refused_call_disables_itself_without_failing_the_write():
    rec = Recorder(fail=errno.EINVAL)
    wb = writeback.Writeback(3, window=1, sync_range=rec)
    wb.wrote(0, 5)
    rec.fail = None
    wb.wrote(5, 5)
    assert rec.calls == []


def test_real_device_writes_are_intact_with_writeback(tmp_path):
    path = tmp_path / "vol"
    path.write_bytes(bytes(4 << 20))
    dev = FdDevice(str(path), writable=True)
    dev._writeback = writeback.Writeback(dev.fd, window=1 << 20)
    data = os.urandom(3 << 20)
    for i in range(0, len(data), 256 << 10):
        dev.write_at(i, data[i:i + (256 << 10)])
    dev.sync()
    dev.close()
    content = path.read_bytes()
    assert content[:len(data)] == data
    assert len(content) == 4 << 20  # never truncated
