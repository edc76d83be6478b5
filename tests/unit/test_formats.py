from glance_store_cinder.formats import detected_formats
from testing_support.imagedata import disk_image


def test_partitioned_raw_disk_counts_as_raw() -> None:
    assert "raw" in detected_formats(b"".join(disk_image(4 << 20)))


def test_qcow2_header_is_not_raw() -> None:
    header = b"QFI\xfb" + b"\x00\x00\x00\x03" + bytes(1 << 16)
    assert detected_formats(header) == {"qcow2"}


def test_unknown_bytes_are_raw() -> None:
    assert detected_formats(b"\x01" * 4096) == {"raw"}
