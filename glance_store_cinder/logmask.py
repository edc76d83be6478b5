"""No secret in a log line the store's work produces.

keystoneauth logs request and response bodies at DEBUG (an attachment's
connection info carries CHAP secrets), os-brick logs connection
properties, exceptions carry what Cinder answered.  A filter on the
loggers those lines go through masks passwords, secrets and tokens with
oslo.utils (``strutils.mask_password``) and replaces the store's own
configured secrets wherever they appear.

Filters on a logger are not inherited by its children, so the filter is
put on every existing logger of the libraries involved, and again on each
store operation for loggers created since (os-brick imports its connectors
on first use).
"""

from __future__ import annotations

import logging
import threading

from oslo_utils import strutils

MASK = "***"
LIBRARIES = ("glance_store_cinder", "keystoneauth", "keystoneauth1",
             "cinderclient", "os_brick", "oslo_privsep")
# Created by keystoneauth only when it first logs: made now, so that they
# carry the filter from the start.
KNOWN_LOGGERS = ("keystoneauth.session", "keystoneauth.session.request",
                 "keystoneauth.session.response", "keystoneauth.session.body",
                 "keystoneauth.session.request-id",
                 "keystoneauth.identity.base", "keystoneauth.identity.v3.base",
                 "cinderclient.client")


class SecretMasking(logging.Filter):
    """Rewrites a record's message (and traceback) with secrets masked."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self.loggers_seen = -1
        """How many loggers existed at the last install."""

    def add_secret(self, value: str | None) -> None:
        """A value masked wherever it appears (a configured password)."""
        if value and len(value) >= 4:  # "x" would mask half the log
            with self._lock:
                self._secrets = self._secrets | {value}

    def mask(self, text: str) -> str:
        masked = strutils.mask_password(text, secret=MASK)
        for secret in self._secrets:
            masked = masked.replace(secret, MASK)
        return masked

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is logging's to report
            return True
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text: format the traceback here, masked.
            record.exc_text = self.mask(
                logging.Formatter().formatException(record.exc_info))
        return True


SECRETS = SecretMasking()


def install(masking: SecretMasking = SECRETS) -> None:
    """Put ``masking`` on the loggers of the store and its libraries.

    Cheap when no logger was created since the last call.
    """
    for name in KNOWN_LOGGERS:
        logging.getLogger(name)
    manager = logging.Logger.manager
    if masking.loggers_seen == len(manager.loggerDict):
        return
    masking.loggers_seen = len(manager.loggerDict)
    for name in list(manager.loggerDict):
        if not any(name == lib or name.startswith(lib + ".")
                   for lib in LIBRARIES):
            continue
        logger = manager.loggerDict.get(name)
        if isinstance(logger, logging.Logger) and (
                masking not in logger.filters):
            logger.addFilter(masking)
