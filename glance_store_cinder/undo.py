"""The one cleanup idiom of the add and get paths.

Every resource registers its undo on an :class:`contextlib.ExitStack` the
moment it exists; the code runs inside ``with ExitStack() as undo:``, so
any failure unwinds what exists so far, and on success the stack is handed
on with ``undo.pop_all()`` (to the reader that detaches later, to nobody
once Glance owns the volume).  Undo steps are wrapped by
:func:`release_on_exit`: the error that made the block fail is the one the
caller sees, never a failure of the cleanup it caused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

LOG = logging.getLogger(__name__)

ExitCallback = Callable[[type[BaseException] | None, BaseException | None,
                         TracebackType | None], bool]


def release_on_exit(release: Callable[[], Any], what: str) -> ExitCallback:
    """An ExitStack exit callback that keeps the first error visible.

    When the block is already failing, a failure to release is logged and
    the original error goes on; when the block succeeded, it is raised.
    """
    def _exit(exc_type: type[BaseException] | None,
              exc: BaseException | None, tb: TracebackType | None) -> bool:
        try:
            release()
        except Exception:
            if exc is None:
                raise
            LOG.exception("%s failed while handling: %s", what, exc)
        return False
    return _exit
