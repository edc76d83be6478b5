"""What the worker's workload mixins use of the worker.

``bench.worker.Worker`` is a ``Contender`` with the workloads of
``bench.hot`` and ``bench.e2e`` mixed in; those mixins reach the
contender's state and helpers through ``self``.  Declared once here, so
that each mixin names its base rather than repeating the list.
"""

from __future__ import annotations

from typing import Any


class WorkerParts:
    """The contender's attributes and helpers the mixins call."""

    contender: str
    spec: dict[str, Any]
    env: dict[str, Any]
    info: dict[str, Any]
    data: Any
    profile: Any
    admin: Any
    devices: dict[str, str]
    stores: dict[str, Any]
    context: Any
    add: Any
    location: Any
    record: Any
    delete_volumes: Any
    new_image_id: Any
    check_volume: Any
