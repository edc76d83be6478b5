import pytest
import requests
from cinderclient import exceptions as cinder_exc
from glance_store import exceptions as gs_exc
from keystoneauth1 import exceptions as ks_exc

from glance_store_cinder import errors


@pytest.mark.parametrize("exc,expected", [
    (cinder_exc.NotFound(404, "gone", request_id="req-1"), gs_exc.NotFound),
    (cinder_exc.Forbidden(403, "no"), gs_exc.Forbidden),
    (cinder_exc.Unauthorized(401, "who"), gs_exc.NotAuthenticated),
    (cinder_exc.OverLimit(413, "quota"), gs_exc.StorageFull),
    (cinder_exc.ClientException(503, "busy"),
     gs_exc.RemoteServiceUnavailable),
    (cinder_exc.BadRequest(400, "bad"), gs_exc.BackendException),
    (cinder_exc.ClientException(500, "boom"), gs_exc.BackendException),
    (ks_exc.ConnectFailure("down"), gs_exc.RemoteServiceUnavailable),
    (ks_exc.Unauthorized(), gs_exc.NotAuthenticated),
])
def test_table_maps_by_status_code(exc: BaseException,
                                   expected: type[Exception]) -> None:
    with pytest.raises(expected) as raised:
        with errors.cinder_errors("Doing it"):
            raise exc
    assert raised.value.__cause__ is exc
    assert "Doing it failed" in str(raised.value)


def test_message_text_does_not_change_the_mapping() -> None:
    # A 400 that talks about "not found" is still a 400.
    exc = cinder_exc.BadRequest(400, "volume not found, in-use, quota")
    assert type(errors.translate(exc, "x")) is gs_exc.BackendException


def test_request_id_is_kept_in_the_message() -> None:
    exc = cinder_exc.NotFound(404, "Volume could not be found",
                              request_id="req-abc")
    assert "req-abc" in str(errors.translate(exc, "Reading volume v"))


def test_overrides_apply_to_one_operation() -> None:
    exc = cinder_exc.BadRequest(400, "attached")
    assert isinstance(
        errors.translate(exc, "Deleting", {400: gs_exc.InUseByStore}),
        gs_exc.InUseByStore)


def test_other_exceptions_pass_through_untouched() -> None:
    with pytest.raises(ValueError):
        with errors.cinder_errors("x"):
            raise ValueError("mine")


@pytest.mark.parametrize("exc,inside", [
    (cinder_exc.ClientException(500, "lost RPC"), True),
    (cinder_exc.ClientException(503, "busy"), True),
    (ks_exc.ConnectTimeout("no answer"), True),
    (ks_exc.ConnectFailure("refused"), False),
    (cinder_exc.BadRequest(400, "attached"), False),
    (cinder_exc.NotFound(404, "gone"), False),
    (ValueError("not Cinder's"), False),
    (None, False),
])
def test_failed_inside_is_a_5xx_or_no_answer(exc: BaseException | None,
                                             inside: bool) -> None:
    assert errors.failed_inside(exc) is inside


def _keystoneauth_timeout(cause: Exception) -> ks_exc.ConnectTimeout:
    """What keystoneauth raises for a timeout of requests: one name for
    both kinds, the kind in its context."""
    try:
        try:
            raise cause
        except requests.exceptions.Timeout:
            raise ks_exc.ConnectTimeout("timed out") from None
    except ks_exc.ConnectTimeout as exc:
        exc.__context__ = cause
        return exc


def test_no_answer_is_failed_inside_a_connection_never_made_is_not() -> None:
    assert errors.failed_inside(_keystoneauth_timeout(
        requests.exceptions.ReadTimeout("no answer")))
    assert not errors.failed_inside(_keystoneauth_timeout(
        requests.exceptions.ConnectTimeout("no connection")))
