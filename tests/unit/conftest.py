"""Fixtures: a fake cloud per test, for every connector family.

Every environment checks at teardown that the test left nothing behind
(:meth:`Env.leaks`): volumes made through Cinder's API that are not a
stored image (available, read-only, with the image's metadata),
attachments, connections (rbd handles and device nodes
too), mounted shares, journal records (NFS share holders among them),
threads.  A test that keeps
something on purpose says what with ``@pytest.mark.keeps_resources(kind,
...)``; the other kinds are still checked.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from tests.unit.harness import Env

FAMILIES = ["local", "nfs", "rbd", "scaleio"]
"""One export protocol per connector family: block, file share, file
object (librbd), a device that grows into its size (PowerFlex)."""

LEAK_KINDS = frozenset({"volumes", "attachments", "connections", "mounts",
                        "journal_records", "threads"})


@pytest.fixture(params=FAMILIES)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _kept_kinds(request: pytest.FixtureRequest) -> frozenset[str]:
    kept: set[str] = set()
    for marker in request.node.iter_markers("keeps_resources"):
        unknown = set(marker.args) - LEAK_KINDS
        if unknown or not marker.args:
            raise pytest.UsageError(
                "keeps_resources takes some of %s, got %r"
                % (sorted(LEAK_KINDS), marker.args))
        kept.update(marker.args)
    return frozenset(kept)


def _checked(request: pytest.FixtureRequest, env: Env) -> Iterator[Env]:
    kept = _kept_kinds(request)
    yield env
    leaks = {kind: found for kind, found in env.leaks().items()
             if found and kind not in kept}
    if leaks:
        pytest.fail("the test left resources behind (mark it "
                    "keeps_resources if on purpose):\n  " + "\n  ".join(
                        "%s: %s" % (kind, "; ".join(found))
                        for kind, found in sorted(leaks.items())),
                    pytrace=False)


@pytest.fixture
def env(request: pytest.FixtureRequest, tmp_path: pathlib.Path,
        protocol: str) -> Iterator[Env]:
    yield from _checked(request, Env(tmp_path, protocol))


@pytest.fixture
def local_env(request: pytest.FixtureRequest,
              tmp_path: pathlib.Path) -> Iterator[Env]:
    yield from _checked(request, Env(tmp_path, "local"))


@pytest.fixture
def nfs_env(request: pytest.FixtureRequest,
            tmp_path: pathlib.Path) -> Iterator[Env]:
    yield from _checked(request, Env(tmp_path, "nfs"))
