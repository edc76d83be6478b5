"""``glance-store-cinder list``: the image volumes of each store.

An image volume is named ``image-<image id>``, carries that id in its
``glance_image_id`` metadata and has the store's volume type.  For each:
the Glance image it belongs to and that image's status in Glance
(``missing`` when Glance does not know it), the size of the image data and
of the volume, the volume's status and its attachments (host, or server
for Nova's).  Volumes of a multitenant store live in the image owners'
projects: they are listed when the store's user has Cinder's admin role.
"""

from __future__ import annotations

import argparse
from typing import Any

from glance_store_cinder.cli import common
from glance_store_cinder.glance_images import GlanceImages
from glance_store_cinder.image_volumes import ImageVolume
from glance_store_cinder.image_volumes import list_image_volumes

NAME = "list"
HELP = "list the image volumes of each store"
HEADERS = ("STORE", "VOLUME", "IMAGE", "IMAGE STATUS", "SIZE",
           "VOLUME STATUS", "ATTACHMENTS")
UNKNOWN = "?"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-glance", action="store_true",
        help="do not ask Glance for the images' status")
    common.add_glance_arguments(parser)


def _attachment_label(attachment: dict[str, Any]) -> str:
    return str(attachment.get("host_name") or attachment.get("server_id")
               or attachment.get("attachment_id") or UNKNOWN)


def _row(store: str, item: ImageVolume, status: str) -> dict[str, Any]:
    return {
        "store": store, "volume_id": item.volume.id,
        "image_id": item.image_id, "image_status": status,
        "image_size": item.image_size,
        "volume_size_gib": item.volume.size_gib,
        "volume_status": item.volume.status,
        "project_id": item.project_id,
        "attachments": [{
            "attachment_id": a.get("attachment_id"),
            "host_name": a.get("host_name"),
            "server_id": a.get("server_id"),
            "attached_at": a.get("attached_at")}
            for a in item.volume.attachments],
    }


class _Statuses:
    """Glance's status of each image, asked once; '?' when it cannot say."""

    def __init__(self, glance: GlanceImages | None) -> None:
        self._glance = glance
        self.incomplete = False

    def of(self, image_id: str) -> str:
        if self._glance is None:
            return UNKNOWN
        try:
            image = self._glance.get(image_id)
        except common.UNAVAILABLE_ERRORS:
            self.incomplete = True
            return UNKNOWN
        return "missing" if image is None else image.status


def _glance(invocation: common.Invocation, loaded: common.LoadedStore
            ) -> GlanceImages | None:
    args = invocation.args
    if args.no_glance:
        return None
    try:
        return common.glance_for(loaded.store, args.glance_endpoint,
                                 args.timeout)
    except common.CommandError as exc:
        invocation.progress.say("list: %s" % exc)
        return None


def _list_store(invocation: common.Invocation,
                loaded: common.LoadedStore) -> tuple[list[dict[str, Any]],
                                                     bool]:
    settings = loaded.store.runtime.settings
    if not settings.has_service_credentials:
        raise common.CommandError(
            "store %s has no service user: its volumes cannot be listed"
            % loaded.name, common.EXIT_UNAVAILABLE)
    invocation.progress.say("list: store %s: listing image volumes"
                            % loaded.name)
    found = list_image_volumes(loaded.store.runtime.service_volumes(),
                               settings.volume_type,
                               all_projects=settings.multitenant)
    glance = _glance(invocation, loaded)
    statuses = _Statuses(glance)
    rows = [_row(loaded.name, item, statuses.of(item.image_id))
            for item in found]
    invocation.progress.say("list: store %s: %d image volumes"
                            % (loaded.name, len(rows)))
    unasked = glance is None and not invocation.args.no_glance
    return rows, statuses.incomplete or unasked


def _print_table(rows: list[dict[str, Any]], out: Any) -> None:
    table = [(r["store"], r["volume_id"], r["image_id"], r["image_status"],
              "%s in %d GiB" % (common.human_size(r["image_size"]),
                                r["volume_size_gib"]),
              r["volume_status"],
              ", ".join(_attachment_label(a) for a in r["attachments"])
              or "-") for r in rows]
    out.write(common.format_table(HEADERS, table) + "\n")


def run(invocation: common.Invocation) -> int:
    rows: list[dict[str, Any]] = []
    code = common.EXIT_OK
    for loaded in invocation.open_stores():
        if loaded.error is not None:
            invocation.progress.say("list: store %s is not usable: %s"
                                    % (loaded.name, loaded.error))
            code = max(code, common.EXIT_USAGE)
            continue
        try:
            store_rows, incomplete = _list_store(invocation, loaded)
        except common.CommandError as exc:
            invocation.progress.say("list: %s" % exc)
            code = max(code, exc.exit_code)
            continue
        except common.UNAVAILABLE_ERRORS as exc:
            invocation.progress.say("list: store %s: %s" % (loaded.name,
                                                            exc))
            code = common.EXIT_UNAVAILABLE
            continue
        rows.extend(store_rows)
        if incomplete:
            code = max(code, common.EXIT_UNAVAILABLE)
    if invocation.args.json:
        common.print_json({"volumes": rows}, invocation.out)
    else:
        _print_table(rows, invocation.out)
    return code
