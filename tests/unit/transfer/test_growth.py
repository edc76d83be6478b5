import pytest

from glance_store_cinder.transfer import growth

GIB = 1024


@pytest.mark.parametrize("size,expected", [
    (0, 1), (1, 1), (GIB, 1), (GIB + 1, 2), (5 * GIB, 5),
])
def test_initial_size(size: int, expected: int) -> None:
    assert growth.initial_size_gib(size, GIB) == expected


def simulate(image_size: int, chunk: int = 64) -> tuple[int, int]:
    """Grow as the writer does; return (final size, number of extends)."""
    size_gib = growth.initial_size_gib(0, GIB)
    extends = 0
    written = 0
    while written < image_size:
        n = min(chunk, image_size - written)
        if written + n > size_gib * GIB:
            new = growth.grown_size_gib(written, written + n, size_gib, GIB)
            assert new > size_gib
            assert new * GIB >= written + n
            size_gib = new
            extends += 1
        written += n
    return size_gib, extends


@pytest.mark.parametrize("gib_count", [0.5, 1, 1.1, 2.5, 3, 7.9, 16, 100])
def test_final_volume_within_a_quarter_or_one_gib(gib_count: int) -> None:
    image = int(gib_count * GIB)
    size_gib, _ = simulate(image)
    assert size_gib * GIB >= image
    assert size_gib * GIB - image <= max(image // 4, GIB)


def test_far_fewer_extends_than_one_per_gib() -> None:
    _, extends = simulate(100 * GIB, chunk=256)
    assert extends <= 25


def test_growth_by_one_gib_at_least() -> None:
    assert growth.grown_size_gib(GIB, GIB + 1, 1, GIB) == 2
