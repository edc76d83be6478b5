from glance_store_cinder.formats import detected_formats


def mbr_disk() -> bytes:
    disk = bytearray(1 << 20)
    disk[446 + 4] = 0x83          # a Linux partition
    disk[446 + 8] = 1
    disk[446 + 12] = 0xFF
    disk[510:512] = b"\x55\xaa"   # MBR signature
    return bytes(disk)


def test_partitioned_raw_disk_counts_as_raw() -> None:
    assert "raw" in detected_formats(mbr_disk())


def test_qcow2_header_is_not_raw() -> None:
    header = b"QFI\xfb" + b"\x00\x00\x00\x03" + bytes(1 << 16)
    assert detected_formats(header) == {"qcow2"}


def test_unknown_bytes_are_raw() -> None:
    assert detected_formats(b"\x01" * 4096) == {"raw"}
