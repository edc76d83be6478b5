"""SQLite write transactions that wait instead of failing (test stack only).

Installed by tools/openstack-aio/up into the keystone, cinder and glance
venvs (with a .pth file) and active only in processes whose environment has
GSC_AIO_SQLITE_IMMEDIATE=1, i.e. the services that up starts.

oslo.db opens every SQLite transaction with a plain (deferred) ``BEGIN``.
A transaction that has read and then wants to write while another process
holds the write lock cannot wait for it: SQLite returns "database is locked"
at once, whatever the busy timeout.  With cinder-api, -scheduler and -volume
sharing one database file (heartbeats every few seconds), a volume create
then fails now and then with HTTP 500.  ``BEGIN IMMEDIATE`` takes the write
lock when the transaction starts, so the busy timeout (``?timeout=60``)
applies and concurrent transactions queue up instead.
"""

import os
import sqlite3
from collections.abc import Callable
from typing import Any


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, *args: Any) -> Any:
        if sql.strip().upper() == "BEGIN":
            sql = "BEGIN IMMEDIATE"
        return super().execute(sql, *args)


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _Cursor)

    def execute(self, sql: str, *args: Any) -> Any:
        return self.cursor().execute(sql, *args)


def _patch() -> None:
    original: Callable[..., Any] = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("factory", _Connection)
        return original(*args, **kwargs)

    setattr(connect, "gsc_aio_patched", True)  # noqa: B010 (a marker)
    setattr(sqlite3, "connect", connect)  # noqa: B010
    setattr(sqlite3.dbapi2, "connect", connect)  # noqa: B010


if os.environ.get("GSC_AIO_SQLITE_IMMEDIATE") == "1" and not getattr(
        sqlite3.connect, "gsc_aio_patched", False):
    _patch()
