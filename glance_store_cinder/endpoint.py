"""``cinder_endpoint_template``: one way to format it, checked at start.

The service user and a requester format it with the same keys: a key only
one of them had failed every call of the other with a raw KeyError, and
``%(auth_token)s`` (from a request context) put a token into a URL that
ends up in logs.
"""

from __future__ import annotations

import re

ENDPOINT_TEMPLATE_KEYS = ("tenant", "project_id", "user", "user_id")


def format_endpoint(template: str, project_id: str | None,
                    user_id: str | None) -> str:
    """``cinder_endpoint_template`` for one project and user.

    :raises ValueError: the template uses other keys or is malformed.
    """
    # Only %(key)s and %%: "%s" would format the whole mapping into it.
    keys = _TEMPLATE_FIELD.findall(template)
    if "%" in _TEMPLATE_FIELD.sub("", template).replace("%%", ""):
        raise ValueError("only %(key)s fields and %% are allowed")
    unknown = sorted(set(keys) - set(ENDPOINT_TEMPLATE_KEYS))
    if unknown:
        raise ValueError("unknown key %s; it may only use %s" % (
            ", ".join(repr(k) for k in unknown), ", ".join(
                "%%(%s)s" % k for k in ENDPOINT_TEMPLATE_KEYS)))
    return template % {"tenant": project_id, "project_id": project_id,
                       "user": user_id, "user_id": user_id}


_TEMPLATE_FIELD = re.compile(r"(?<!%)(?:%%)*%\(([^)]*)\)s")
