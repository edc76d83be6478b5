"""The options this driver adds to the in-tree driver's, with their help.

Help follows glance_store's style: what the option does, its possible
values, the options related to it.  :mod:`glance_store_cinder.options`
registers these next to the in-tree driver's own option objects.
"""

from __future__ import annotations

from oslo_config import cfg

from glance_store_cinder._i18n import _

NEW_OPTIONS: list[cfg.Opt] = [
    cfg.BoolOpt(
        "cinder_store_multitenant",
        default=False,
        help=_("""
Store each image in the requesting user's project.

When enabled, the volume that holds an image is created, read and deleted
with the token of the user who makes the request, in that user's project,
instead of with the service credentials in the service project. Volumes
then count against the owners' quotas.

The service credentials (``cinder_store_user_name`` and the other
``cinder_store_*`` options, or an application credential), when
configured, are used in three more cases:

* at start, to check that ``cinder_volume_type`` exists;
* to read an image whose volume the requester's project cannot see in
  Cinder (an image shared with, or public to, other projects lives in its
  owner's project: Glance decided the requester may read it);
* to delete images for requests without a project (the scrubber, tasks,
  admin contexts).

For the last two the service user must be allowed to read, attach and
delete volumes of every project (Cinder's ``admin`` role under its default
policies). Without service credentials those reads fail with NotFound and
those deletes with NotAuthenticated.

What this mode cannot protect: the volume belongs to the owner project,
which can write it under Cinder's default policies. The store marks the
volume read-only after the upload, but the owner may clear that flag,
attach the volume read-write elsewhere, or change its ``image_size``
metadata, so the bytes served later may differ from what Glance hashed (an
``image_size`` larger than the volume is refused). Where that matters, keep
images in the service project (leave this option off) or restrict those
actions to admins in Cinder's policy.

Possible values:
    * True or False

Related options:
    * cinder_catalog_info
    * cinder_endpoint_template
    * cinder_store_user_name
    * cinder_store_password
""")),
    cfg.ListOpt(
        "cinder_bootable_volume_formats",
        default=[],
        help=_("""
Disk formats for which the image volume is marked bootable.

After an upload the first bytes of the image are inspected (with
oslo.utils' format inspector); when the detected format is in this list the
volume's bootable flag is set, so Cinder and Nova can boot from volumes
cloned from it. Formats not listed leave the flag unset.

Possible values:
    * A comma separated list of disk formats known to oslo.utils' format
      inspector, for example ``raw,qcow2``
    * An empty list (default) never sets the flag

Related options:
    * None
""")),
    cfg.BoolOpt(
        "cinder_thin_provisioning",
        default=False,
        help=_("""
Skip writing all-zero blocks of an image into a new volume.

A freshly created volume on a backend that returns zeros for unwritten
blocks (sparse files on NFS, thin LUNs) does not need the zeros of a
sparse disk image written out: skipping them saves time and backend space.
Only enable this when every volume type used by this store reads back
zeros from a new volume; the store only skips zeros in volumes it has just
created, and only chunks that are entirely zeros.

Possible values:
    * True or False

Related options:
    * cinder_volume_type
""")),
    cfg.BoolOpt(
        "cinder_upload_direct_io",
        default=True,
        help=_("""
Write uploaded image data to the volume with direct I/O (``O_DIRECT``).

When enabled, an upload copies the image into a few reused, aligned 4 MiB
buffers and a writer thread sends each one to the attached device or
volume file past the host's page cache, while the upload goes on receiving
and hashing. The page cache is not filled with the image (it would only
evict glance-api's working set) and the host's CPUs are left to the
checksums. A device or file that refuses ``O_DIRECT`` (at open, or with
EINVAL on the first direct write: logged as a warning) is written through
the page cache.
Volumes the connector opens as a file object (RBD) are not affected.

Disable it where direct writes are slow on the share or device, e.g. an
NFS server that commits every direct write to disk before it answers;
then the upload writes through the page cache, starting the writeback of
every 32 MiB as it goes so that the final flush is short.

Possible values:
    * True or False

Related options:
    * cinder_mount_point_base
""")),
]

NEW_OPTIONS += [
    cfg.FloatOpt(
        "cinder_http_timeout",
        default=90.0,
        min=0.001,
        help=_("""
Seconds to wait for Keystone or Cinder to answer one HTTP request.

Every request of the store (authentication, volume and attachment calls,
with the service user's or a requester's token) gives up after this long
and fails with a "service unavailable" error, instead of blocking an
upload, a download, or glance-api's start for ever when the service
accepts connections but never answers. Attachment updates wait for
cinder-volume through Cinder's RPC, which gives up after
``rpc_response_timeout`` (60 s by default): keep this value above it so
that Cinder's own answer ends a slow update. The attachment's delete at
the end of an upload or a download is asked twice when the first ask gets
a server error or no answer, so it can take twice this long.

Possible values:
    * A positive number of seconds

Related options:
    * cinder_http_retries
    * cinder_state_transition_timeout
""")),
    cfg.BoolOpt(
        "cinder_recover_at_start",
        default=True,
        help=_("""
Undo at start what crashed glance-api workers of this host left in Cinder.

Before the store creates a volume, an attachment or a connection it
records it in a journal on this host (under the lock path). When the store
starts, it replays the records of processes that are no longer running:
disconnects their connections, deletes their attachments and deletes the
volumes of uploads that never completed. Records of running processes and
of other hosts are never touched. A volume found busy is also recovered on
demand, whatever this option says.

Disable it to inspect what a crash left behind, with
``glance-store-cinder sweep``, before anything is undone.

Possible values:
    * True or False

Related options:
    * cinder_mount_point_base
""")),
    cfg.FloatOpt(
        "cinder_read_attachment_linger",
        default=0.0,
        min=0.0,
        help=_("""
Seconds to keep a read attachment after its last reader on this host.

Every download of an image on this host shares one read-only attachment of
the image's volume; the last reader out detaches it. With a linger the
attachment stays this long after the last reader, so that back-to-back
downloads of one image skip the attach and detach (a few tenths of a
second each). A reader that comes meanwhile joins it. A delete of the
image, or a write attachment of the volume, from this host ends the linger
at once. Another host that wants a volume which is not multiattach waits
for the linger to end (at most this long after the last reader here,
within its ``cinder_state_transition_timeout``). Lingering needs the
service credentials (it is ended with them when no request comes); without
them nothing lingers.

The project's benchmark measures the saving (its back-to-back row). The
default is 0 because the other hosts
pay for a linger (up to its whole length per wait, also when no get comes)
when the volume type is not multiattach.

Possible values:
    * 0 (default): detach as soon as the last reader is done
    * A positive number of seconds (a few, where images are read from one
      glance-api host or their volume type is multiattach); keep it well
      below ``cinder_state_transition_timeout``

Related options:
    * cinder_state_transition_timeout
    * cinder_store_user_name
"""))]

# Older option name -> the option it stands in for.
DEPRECATED_ALIASES: dict[str, str] = {
    "cinder_store_tenant": "cinder_store_project_name",
    "cinder_store_user": "cinder_store_user_name",
    "cinder_store_key": "cinder_store_password",
}


def _alias_option(old: str, new: str) -> cfg.StrOpt:
    return cfg.StrOpt(
        old,
        secret=new == "cinder_store_password",
        deprecated_for_removal=True,
        deprecated_reason=_("Use %s.") % new,
        help=_("""
Older name of ``%(new)s``, from the store's original design.

Read only when ``%(new)s`` is not set.

Possible values:
    * The same values as ``%(new)s``

Related options:
    * %(new)s
""") % {"new": new})


NEW_OPTIONS += [_alias_option(old, new)
                 for old, new in DEPRECATED_ALIASES.items()]
