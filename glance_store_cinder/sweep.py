"""Sweep: recovery on demand, plus what the journal cannot know.

What :mod:`recovery` replays from the journal, and, from Cinder:

* this store's image volumes (``image-<id>`` with that ``glance_image_id``,
  of the store's volume type) whose Glance image does not exist or does
  not list the volume among its locations (``cinder://<store>/<volume>``
  or the legacy ``cinder://<volume>``): a journal lost with its host, or
  an upload whose worker died after the journal forgot it;
* attachments of this host that no journal record accounts for.

Guards: nothing younger than ``older_than`` seconds (an upload in flight
on another host has no location yet), nothing attached to another host or
to an instance, nothing a live journal record holds.  Without a Glance
lookup, image volumes are not judged (only Cinder and the journal speak).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from typing import Protocol

from glance_store import exceptions as gs_exc

from glance_store_cinder import journal as jr
from glance_store_cinder import location
from glance_store_cinder.recovery import Recovery
from glance_store_cinder.recovery import Step
from glance_store_cinder.runtime import StoreRuntime
from glance_store_cinder.volumes import VolumeInfo
from glance_store_cinder.volumes import Volumes

LOG = logging.getLogger(__name__)

IMAGE_PREFIX = "image-"
JOURNAL = "journal"
VOLUME = "volume"
ATTACHMENT = "attachment"


class ImageLookup(Protocol):
    def locations(self, image_id: str) -> list[str] | None:
        """The image's location URIs; None when the image does not exist."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """A leftover: what it is, what sweep does about it, and why."""

    source: str
    """journal, volume or attachment."""
    subject: str
    action: str
    reason: str
    age: float | None
    step: Step | None = None
    volume_id: str | None = None
    attachment_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "subject": self.subject,
                "action": self.action, "reason": self.reason,
                "age_seconds": (round(self.age) if self.age is not None
                                else None)}


@dataclasses.dataclass
class Report:
    findings: list[Finding] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    done: list[Finding] = dataclasses.field(default_factory=list)
    failed: list[tuple[Finding, str]] = dataclasses.field(
        default_factory=list)


@dataclasses.dataclass(frozen=True)
class StoreView:
    """What sweep needs to know of the store."""

    name: str
    volume_type: str | None
    host: str


Progress = Callable[[str], None]


class Sweep:
    """Finds and removes one store's leftovers on this host."""

    def __init__(self, store: StoreView, journal: jr.Journal,
                 recovery: Recovery, volumes: Volumes | None,
                 images: ImageLookup | None,
                 remove_volume_lock: Callable[[str], None],
                 wall_clock: Callable[[], float],
                 older_than: float = 3600.0) -> None:
        self._store = store
        self._journal = journal
        self._recovery = recovery
        self._volumes = volumes
        self._images = images
        self._remove_volume_lock = remove_volume_lock
        self._now = wall_clock
        self._older_than = older_than
        self._glance_failure: str | None = None

    # -- finding ----------------------------------------------------------
    def find(self, progress: Progress | None = None) -> Report:
        report = Report()
        now = self._now()
        # Journal records need no age guard: their owners are proven dead.
        for step in self._recovery.plan():
            report.findings.append(Finding(
                JOURNAL, step.subject, step.action, step.reason,
                now - step.record.created, step=step))
        others = {r.store for r in self._journal.all_records()
                  if r.store != self._store.name}
        if others:
            report.notes.append(
                "journal records of other stores (%s) are left to those "
                "stores" % ", ".join(sorted(others)))
        if self._volumes is None:
            report.notes.append("no service credentials: Cinder was not "
                                "searched for leftovers")
            return report
        if self._images is None:
            report.notes.append("no Glance credentials: image volumes were "
                                "not judged (only the journal and Cinder's "
                                "attachments of this host)")
        self._find_in_cinder(report, now, progress)
        return report

    def _find_in_cinder(self, report: Report, now: float,
                        progress: Progress | None) -> None:
        assert self._volumes is not None
        known = self._known_ids()
        wanted_type = (self._store.volume_type
                       or self._volumes.default_volume_type())
        hidden_hosts = False
        for count, volume in enumerate(self._volumes.iter_all(), 1):
            if progress is not None and count % 100 == 0:
                progress("%d volumes looked at" % count)
            age = (now - volume.created_at if volume.created_at is not None
                   else None)
            for attachment in volume.attachments:
                hidden_hosts |= attachment.get("host_name") is None
                finding = self._judge_attachment(volume, attachment, known,
                                                 age)
                if finding is not None:
                    report.findings.append(finding)
            if volume.volume_type == wanted_type:
                finding = self._judge_volume(volume, known, age)
                if finding is not None:
                    report.findings.append(finding)
        if self._glance_failure:
            report.notes.append(self._glance_failure)
        if hidden_hosts:
            report.notes.append("Cinder hid some attachments' host names "
                                "from this user (it needs the service or "
                                "admin role): those were not judged")

    def _known_ids(self) -> set[str]:
        """Attachment and volume ids the journal accounts for."""
        ids = set()
        for record in self._journal.all_records():
            for key in ("attachment_id", "volume_id"):
                value = record.get(key)
                if value and (key == "attachment_id"
                              or record.kind == jr.VOLUME):
                    ids.add(str(value))
        return ids

    def _judge_attachment(self, volume: VolumeInfo,
                          attachment: dict[str, Any], known: set[str],
                          age: float | None) -> Finding | None:
        attachment_id = str(attachment.get("attachment_id"))
        if (attachment.get("host_name") != self._store.host
                or attachment.get("server_id")
                or attachment_id in known):
            return None
        return Finding(
            ATTACHMENT, "attachment %s of volume %s" % (attachment_id,
                                                        volume.id),
            "delete the attachment",
            "attached to this host (%s) and no journal record accounts "
            "for it" % self._store.host, age, volume_id=volume.id,
            attachment_id=attachment_id)

    def _judge_volume(self, volume: VolumeInfo, known: set[str],
                      age: float | None) -> Finding | None:
        image_id = volume.metadata.get("glance_image_id")
        if (self._images is None or not image_id
                or volume.name != IMAGE_PREFIX + image_id
                or volume.id in known):
            return None
        if age is None or age < self._older_than:
            return None  # possibly an upload in flight on another host
        if any(a.get("host_name") != self._store.host or a.get("server_id")
               for a in volume.attachments):
            return None  # in use elsewhere
        try:
            locations = self._images.locations(image_id)
        except Exception as exc:
            # Glance down, or not telling locations: judge no image
            # volume at all rather than guess.
            self._images = None
            self._glance_failure = "Glance could not be asked (%s): " \
                "image volumes were not judged" % exc
            return None
        if locations is None:
            reason = "image %s does not exist" % image_id
        elif self._listed(volume.id, locations):
            return None
        else:
            reason = "image %s does not list this volume" % image_id
        return Finding(VOLUME, "volume %s (%s)" % (volume.id, volume.name),
                       "delete the volume", reason, age,
                       volume_id=volume.id)

    def _listed(self, volume_id: str, uris: Iterable[str]) -> bool:
        for uri in uris:
            try:
                store, listed = location.parse(uri)
            except gs_exc.BadStoreUri:
                continue
            if listed == volume_id and (
                    store is None or store == self._store.name):
                return True
        return False

    # -- applying ---------------------------------------------------------
    def apply(self, report: Report,
              progress: Progress | None = None) -> Report:
        """Remove what ``report`` found: journal, attachments, volumes."""
        order = {JOURNAL: 0, ATTACHMENT: 1, VOLUME: 2}
        steps = [f.step for f in report.findings if f.step is not None]
        outcome = self._recovery.apply(steps) if steps else None
        if outcome is not None:
            by_step = {id(f.step): f for f in report.findings if f.step}
            report.done += [by_step[id(s)] for s in outcome.done]
            report.failed += [(by_step[id(s)], why)
                              for s, why in outcome.failed]
        cinder = sorted((f for f in report.findings if f.step is None),
                        key=lambda f: order[f.source])
        for finding in cinder:
            if progress is not None:
                progress("%s: %s" % (finding.action, finding.subject))
            try:
                self._remove(finding)
            except Exception as exc:
                LOG.warning("Sweep: could not %s (%s): %s", finding.action,
                            finding.subject, exc)
                report.failed.append((finding, str(exc)))
            else:
                report.done.append(finding)
        return report

    def _remove(self, finding: Finding) -> None:
        assert self._volumes is not None and finding.volume_id
        if finding.source == ATTACHMENT:
            assert finding.attachment_id
            self._volumes.attachments.delete(finding.attachment_id)
            return
        try:
            self._volumes.delete(finding.volume_id)
        except gs_exc.NotFound:
            pass
        self._remove_volume_lock(finding.volume_id)


def sweep_for(runtime: StoreRuntime, images: ImageLookup | None,
              older_than: float) -> Sweep:
    """The sweep of a configured store."""
    settings = runtime.settings
    store = StoreView(name=settings.store_name,
                      volume_type=settings.volume_type,
                      host=runtime.host_name())
    volumes = (runtime.service_volumes()
               if settings.has_service_credentials else None)
    return Sweep(store, runtime.journal, runtime.recovery, volumes, images,
                 runtime.remove_volume_lock, time.time, older_than)


def report_document(report: Report, applied: bool) -> dict[str, Any]:
    """The report as JSON-ready data."""
    return {
        "applied": applied, "notes": list(report.notes),
        "found": [f.to_dict() for f in report.findings],
        "done": [f.to_dict() for f in report.done],
        "failed": [dict(f.to_dict(), error=why)
                   for f, why in report.failed],
    }


def exit_code(report: Report, applied: bool) -> int:
    """0: nothing found or all removed; 1: found (dry run); 4: failures.

    The codes are the operator commands' (glance_store_cinder.cli.common).
    """
    if report.failed:
        return 4
    if report.findings and not applied:
        return 1
    return 0
