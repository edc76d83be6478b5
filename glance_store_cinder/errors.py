"""Translation of Cinder and Keystone failures into glance_store errors.

One table, keyed by HTTP status code.  Never by message text: Cinder's
messages change between releases and are translated.  Every translated
exception is raised ``from`` the original and carries the request id, so an
operator can find the request in Cinder's logs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from collections.abc import Mapping

import requests
from glance_store import exceptions as gs_exc
from keystoneauth1 import exceptions as ks_exc

try:
    from cinderclient import exceptions as cinder_exc
except ImportError:  # pragma: no cover - reported by Store.configure_add
    cinder_exc = None

ErrorClass = type[Exception]

# What a Cinder or Keystone HTTP status means to Glance.
STATUS_TO_ERROR: Mapping[int, ErrorClass] = {
    401: gs_exc.NotAuthenticated,
    403: gs_exc.Forbidden,
    404: gs_exc.NotFound,
    413: gs_exc.StorageFull,  # Cinder's OverLimit: a quota is exhausted
    503: gs_exc.RemoteServiceUnavailable,
}
DEFAULT_ERROR: ErrorClass = gs_exc.BackendException

# Answers that say Cinder took a request and failed inside it, or gave no
# answer in time: worth one more try where the request is safe to repeat.
# (A RabbitMQ restart can lose the RPC that cinder-api sends to
# cinder-volume; the request then fails after rpc_response_timeout.)
SERVER_FAILED_STATUSES = frozenset({500, 502, 503, 504})


class StateTimeout(gs_exc.BackendException):
    """A volume or attachment did not reach the expected state in time."""


class VolumeHeld(gs_exc.RemoteServiceUnavailable, gs_exc.BackendException):
    """A volume that is not multiattach is attached to another host.

    Retryable: Glance answers 503 (Service Unavailable) to a download
    (it maps RemoteServiceUnavailable so); still a BackendException for
    callers that catch those.
    """


class VolumeInErrorState(gs_exc.BackendException):
    """Cinder put the volume in an error state."""


def status_of(exc: BaseException) -> int | None:
    """The HTTP status carried by a cinderclient or keystoneauth error."""
    if cinder_exc is not None and isinstance(exc, cinder_exc.ClientException):
        code = getattr(exc, "code", None)
        return code if isinstance(code, int) else None
    if isinstance(exc, ks_exc.HttpError):
        return exc.http_status
    return None


def failed_inside(exc: BaseException | None) -> bool:
    """Whether a client error says Cinder took the request but failed it
    (a 5xx answer) or did not answer in time; not a connection refused or
    never made in time: then the service is down or unreachable."""
    if isinstance(exc, ks_exc.ConnectTimeout):
        # keystoneauth names every timeout so; requests tells them apart.
        return not isinstance(exc.__context__,
                              requests.exceptions.ConnectTimeout)
    return exc is not None and status_of(exc) in SERVER_FAILED_STATUSES


def request_id_of(exc: BaseException) -> str | None:
    return getattr(exc, "request_id", None)


def _describe(action: str, exc: BaseException) -> str:
    status = status_of(exc)
    parts = ["%s failed" % action]
    detail = getattr(exc, "message", None) or str(exc)
    if detail:
        parts.append(": %s" % detail)
    if status is not None and "HTTP %d" % status not in detail:
        parts.append(" (HTTP %d)" % status)
    rid = request_id_of(exc)
    if rid and rid not in detail:
        parts.append(" (Request-ID: %s)" % rid)
    return "".join(parts)


def _construct(cls: ErrorClass, message: str) -> Exception:
    if issubclass(cls, gs_exc.GlanceStoreException):
        return cls(message=message)  # type: ignore[call-arg]
    return cls(message)


def translate(exc: BaseException, action: str,
              overrides: Mapping[int, ErrorClass] | None = None
              ) -> Exception:
    """The glance_store exception for ``exc``, raised by ``action``.

    ``overrides`` lets one operation give a status a meaning of its own
    (a 400 on a volume delete means the volume is still attached).
    """
    message = _describe(action, exc)
    if isinstance(exc, (ks_exc.ConnectionError,
                        ks_exc.EndpointNotFound,
                        ks_exc.DiscoveryFailure)):
        return _construct(gs_exc.RemoteServiceUnavailable, message)
    if isinstance(exc, ks_exc.AuthorizationFailure):
        return _construct(gs_exc.NotAuthenticated, message)
    status = status_of(exc)
    table = dict(STATUS_TO_ERROR)
    if overrides:
        table.update(overrides)
    if status is not None and status in table:
        return _construct(table[status], message)
    return _construct(DEFAULT_ERROR, message)


def is_client_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from talking to Cinder or Keystone."""
    if cinder_exc is not None and isinstance(exc, cinder_exc.ClientException):
        return True
    return isinstance(exc, ks_exc.ClientException)


@contextlib.contextmanager
def cinder_errors(action: str,
                  overrides: Mapping[int, ErrorClass] | None = None
                  ) -> Iterator[None]:
    """Translate client failures raised in the block; let others pass."""
    try:
        yield
    except Exception as exc:
        if not is_client_error(exc):
            raise
        raise translate(exc, action, overrides) from exc
