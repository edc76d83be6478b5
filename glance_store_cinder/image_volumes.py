"""A store's image volumes as Cinder lists them.

An image volume is what this driver and the in-tree one create for an
image: named ``image-<image id>``, with that id in its ``glance_image_id``
metadata, of the store's volume type (Cinder's default type for a store
without ``cinder_volume_type``).  A volume that only looks like one (a
name without the metadata, or metadata naming another image) is not
counted: it may be someone's copy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from oslo_utils import uuidutils

from glance_store_cinder import errors
from glance_store_cinder.volumes import VolumeInfo
from glance_store_cinder.volumes import Volumes

NAME_PREFIX = "image-"


@dataclasses.dataclass(frozen=True)
class ImageVolume:
    """A volume holding (or meant to hold) one Glance image."""

    volume: VolumeInfo
    image_id: str
    project_id: str | None
    image_size: int | None
    """Bytes of image data, from ``image_size`` metadata (None if absent
    or not a number)."""


def _image_size(metadata: dict[str, str]) -> int | None:
    raw = metadata.get("image_size")
    if raw is None or not raw.isdigit():
        return None
    return int(raw)


def as_image_volume(resource: Any) -> ImageVolume | None:
    """The image volume ``resource`` is, or None if it is not one."""
    info = VolumeInfo.from_resource(resource)
    image_id = info.metadata.get("glance_image_id")
    name = getattr(resource, "name", None)
    if (not image_id or not uuidutils.is_uuid_like(image_id)
            or name != NAME_PREFIX + image_id):
        return None
    project = getattr(resource, "os-vol-tenant-attr:tenant_id", None)
    return ImageVolume(volume=info, image_id=image_id,
                       project_id=project if isinstance(project, str)
                       else None,
                       image_size=_image_size(info.metadata))


def list_image_volumes(volumes: Volumes, volume_type: str | None,
                       all_projects: bool = False) -> list[ImageVolume]:
    """The image volumes of ``volume_type`` (None: Cinder's default).

    ``all_projects`` lists every project's volumes (multitenant stores);
    Cinder honours it for admins only, and shows others their own.
    """
    wanted = volume_type or volumes.default_volume_type()
    # "name~" is Cinder's "contains" filter (3.34): it cuts the listing
    # to candidates; the exact checks are ours.
    search: dict[str, Any] = {"name~": NAME_PREFIX}
    if all_projects:
        search["all_tenants"] = 1
    with errors.cinder_errors("Listing the image volumes of type %s"
                              % wanted):
        resources = volumes.client.volumes.list(detailed=True,
                                                search_opts=search)
    found = []
    for resource in resources:
        if getattr(resource, "volume_type", None) != wanted:
            continue
        image_volume = as_image_volume(resource)
        if image_volume is not None:
            found.append(image_volume)
    found.sort(key=lambda v: (v.image_id, v.volume.id))
    return found
