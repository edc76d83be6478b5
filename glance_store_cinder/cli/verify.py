"""``glance-store-cinder verify``: does each image's volume hold its data?

For every image Glance lists (asked with the store's service user) that
has a location in one of this driver's stores, the volume is read through
the store, as glance-api reads it, and its size, md5 and multihash are
compared with what Glance recorded.  Results: ``ok``; ``MISMATCH`` (with
what differs and, when the data starts with a run of zeros, its length:
"first N bytes are zeros" is what glance_store's in-tree driver left in
images uploaded with unknown size past 1 GiB on NFS); ``unreadable``
(attach or read failed); ``missing volume``; ``skipped`` (Glance recorded
no checksum, the image has no data yet, or the store has no service
user).  A multitenant store's volumes are read with its service user,
which needs Cinder's admin role for volumes of other projects.

Reading costs what a download costs: ``--workers`` bounds how many images
are read at once (default 2), so that glance-api keeps serving.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
from collections.abc import Iterable
from typing import Any

from glance_store import exceptions as gs_exc
from glance_store import location as gs_location
from oslo_utils import uuidutils

from glance_store_cinder import location as cinder_location
from glance_store_cinder import verification
from glance_store_cinder.cli import common
from glance_store_cinder.glance_images import GlanceImage
from glance_store_cinder.glance_images import GlanceImages
from glance_store_cinder.glance_images import ImageLocation
from glance_store_cinder.glance_images import LocationsUnavailable
from glance_store_cinder.polling import Clock
from glance_store_cinder.store import Store
from glance_store_cinder.verification import Outcome
from glance_store_cinder.verification import Result

NAME = "verify"
HELP = "compare each image's volume with Glance's size and checksums"
HEADERS = ("IMAGE", "STORE", "VOLUME", "RESULT", "DETAIL")
MAX_WORKERS = 32


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            "must be between 1 and %d" % MAX_WORKERS)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", metavar="ID",
                        help="verify this image only")
    parser.add_argument(
        "--workers", type=_workers, default=2, metavar="N",
        help="images read at the same time (1-%d, default 2)" % MAX_WORKERS)
    common.add_glance_arguments(parser)


@dataclasses.dataclass(frozen=True)
class Check:
    """One image location in one of this driver's stores."""

    image: GlanceImage
    store: str
    location: str
    volume_id: str
    outcome: Outcome


def store_for_location(location: ImageLocation,
                       stores: dict[str, Store]) -> str | None:
    """Which of ``stores`` holds ``location``; None if none of them."""
    try:
        uri_store, _volume = cinder_location.parse(location.url)
    except gs_exc.BadStoreUri:
        return None
    for name in (location.store, uri_store):
        if name is not None and name in stores:
            return name
    if uri_store is None and location.store is None and (
            common.SINGLE_STORE_GROUP in stores):
        return common.SINGLE_STORE_GROUP
    return None


def _expected(image: GlanceImage) -> verification.Expected:
    return verification.Expected(size=image.size, checksum=image.checksum,
                                 hash_algo=image.hash_algo,
                                 hash_value=image.hash_value)


def _read_and_compare(store: Store, image: GlanceImage,
                      url: str) -> Outcome:
    if not image.has_data:
        return Outcome(Result.SKIPPED, "image status is %s" % image.status)
    settings = store.runtime.settings
    if not settings.has_service_credentials:
        return Outcome(Result.SKIPPED, "store %s has no service user to "
                       "read with" % store.store_name)
    location = gs_location.Location(
        "cinder", cinder_location.StoreLocation, store.conf, uri=url,
        backend=store.backend_group)
    if not settings.multitenant:
        return verification.verify(store, location, _expected(image))
    outcome = verification.verify(store, location, _expected(image),
                                  context=common.service_context(store))
    if outcome.result is Result.MISSING_VOLUME:
        return dataclasses.replace(outcome, detail=outcome.detail + (
            " (or not visible: a multitenant store's volumes live in the "
            "image owners' projects; the store's user needs Cinder's "
            "admin role to read them)"))
    return outcome


def check_image(glance: GlanceImages, image: GlanceImage,
                stores: dict[str, Store]) -> list[Check]:
    """Every location of ``image`` in ``stores``, read and compared."""
    if image.stores is not None and not set(image.stores) & set(stores):
        return []
    if not image.has_data and image.locations is None:
        return []
    checks = []
    for location in glance.fetch_locations(image):
        name = store_for_location(location, stores)
        if name is None:
            continue
        _store, volume_id = cinder_location.parse(location.url)
        outcome = _read_and_compare(stores[name], image, location.url)
        checks.append(Check(image, name, location.url, volume_id, outcome))
    return checks


def _row(check: Check) -> dict[str, Any]:
    return {"image_id": check.image.id, "image_name": check.image.name,
            "store": check.store, "volume_id": check.volume_id,
            "location": check.location,
            "result": check.outcome.result.value,
            "detail": check.outcome.detail,
            "bytes_read": check.outcome.bytes_read,
            "leading_zeros": check.outcome.leading_zeros}


def _images(glance: GlanceImages, image_id: str | None
            ) -> list[GlanceImage]:
    if image_id is None:
        return list(glance.iter_images())
    if not uuidutils.is_uuid_like(image_id):
        raise common.CommandError("--image %r is not an image id"
                                  % image_id)
    image = glance.get(image_id)
    if image is None:
        raise common.CommandError("image %s does not exist in Glance"
                                  % image_id, common.EXIT_FOUND)
    return [image]


class _Tally:
    """Counts, bytes and throughput for progress and the summary."""

    def __init__(self, clock: Clock, images: int) -> None:
        self._clock = clock
        self._start = clock.monotonic()
        self.images = images
        self.done = 0
        self.bytes_read = 0
        self.results: dict[str, int] = {}

    def add(self, checks: Iterable[Check]) -> None:
        self.done += 1
        for check in checks:
            self.bytes_read += check.outcome.bytes_read
            key = check.outcome.result.value
            self.results[key] = self.results.get(key, 0) + 1

    @property
    def seconds(self) -> float:
        return max(self._clock.monotonic() - self._start, 0.0)

    def throughput(self) -> str:
        if self.seconds <= 0:
            return "- MiB/s"
        return "%.1f MiB/s" % (self.bytes_read / self.seconds / (1 << 20))

    def summary(self) -> dict[str, Any]:
        return {"images_listed": self.images, "results": self.results,
                "bytes_read": self.bytes_read,
                "seconds": round(self.seconds, 3),
                "mib_per_second": (round(self.bytes_read / self.seconds
                                         / (1 << 20), 1)
                                   if self.seconds > 0 else None)}

    def line(self) -> str:
        counts = ", ".join("%d %s" % (n, r)
                           for r, n in sorted(self.results.items()))
        return ("%d images listed; %s; %s read in %.1f s (%s)"
                % (self.images, counts or "no image in these stores",
                   common.human_size(self.bytes_read), self.seconds,
                   self.throughput()))


def _progress(invocation: common.Invocation, tally: _Tally,
              image: GlanceImage, checks: list[Check]) -> None:
    for check in checks:
        invocation.progress.say(
            "verify: [%d/%d] image %s in %s: %s (%s read, %s overall)"
            % (tally.done, tally.images, image.id, check.store,
               check.outcome.result.value,
               common.human_size(check.outcome.bytes_read),
               tally.throughput()))


def _run_checks(invocation: common.Invocation, glance: GlanceImages,
                images: list[GlanceImage], stores: dict[str, Store],
                tally: _Tally) -> list[Check]:
    found: list[Check] = []
    with concurrent.futures.ThreadPoolExecutor(
            max_workers=invocation.args.workers,
            thread_name_prefix="verify") as pool:
        futures = {pool.submit(check_image, glance, image, stores): image
                   for image in images}
        try:
            for future in concurrent.futures.as_completed(futures):
                checks = future.result()
                tally.add(checks)
                _progress(invocation, tally, futures[future], checks)
                found.extend(checks)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return found


def _usable_stores(invocation: common.Invocation) -> tuple[dict[str, Store],
                                                            int]:
    stores: dict[str, Store] = {}
    code = common.EXIT_OK
    for loaded in invocation.open_stores():
        if loaded.error is not None:
            invocation.progress.say("verify: store %s is not usable: %s"
                                    % (loaded.name, loaded.error))
            code = common.EXIT_USAGE
        else:
            stores[loaded.name] = loaded.store
    if not stores:
        raise common.CommandError("no usable store")
    return stores, code


def _print(invocation: common.Invocation, checks: list[Check],
           tally: _Tally) -> None:
    rows = [_row(c) for c in sorted(checks, key=lambda c: (c.image.id,
                                                            c.store))]
    if invocation.args.json:
        common.print_json({"results": rows, "summary": tally.summary()},
                          invocation.out)
        return
    table = [(r["image_id"], r["store"], r["volume_id"], r["result"],
              r["detail"]) for r in rows]
    invocation.out.write(common.format_table(HEADERS, table) + "\n")
    invocation.out.write(tally.line() + "\n")


def run(invocation: common.Invocation) -> int:
    args = invocation.args
    stores, code = _usable_stores(invocation)
    first = next(iter(stores.values()))
    glance = common.glance_for(first, args.glance_endpoint, args.timeout)
    clock = (invocation.collaborators.clock if invocation.collaborators
             else Clock())
    invocation.progress.say("verify: listing images in Glance")
    images = _images(glance, args.image)
    tally = _Tally(clock, len(images))
    try:
        checks = _run_checks(invocation, glance, images, stores, tally)
    except LocationsUnavailable as exc:
        raise common.CommandError(str(exc), common.EXIT_UNAVAILABLE) from exc
    if args.image and not checks:
        raise common.CommandError(
            "image %s has no location in the stores %s"
            % (args.image, ", ".join(stores)))
    _print(invocation, checks, tally)
    if any(c.outcome.result.failed for c in checks):
        return common.EXIT_FOUND
    return code
