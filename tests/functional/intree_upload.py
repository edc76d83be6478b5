"""Store an image with glance_store's in-tree cinder driver, as glance-api
on that driver would, in a process of its own.

::

    python -m tests.functional.intree_upload CONF IMAGE_ID SIZE USER PROJECT

``CONF`` is the bench's glance-api.conf for the in-tree contender
(``bench.conf.conf_text``: one store ``bench`` of type ``cinder``).
The image (``SIZE`` bytes of tests.functional.data's pattern) is sent with
size 0 (unknown: a chunked upload), so the in-tree driver grows the volume
as it writes; ``USER`` and ``PROJECT`` (ids of the store's service user)
make the request context the in-tree driver insists on.  Prints one JSON
object: the location, the size and the md5 and sha512 the driver
returned (what glance-api records as the image's ``checksum`` and
``os_hash_value``), and the digests of the data sent.

A process of its own because oslo.config's ``CONF`` and glance_store's
store maps are global: the test process already holds this driver's stores
under the same names.
"""

from __future__ import annotations

import json
import sys

from glance_store import multi_backend
from oslo_config import cfg
from oslo_context import context as oslo_context

from bench.conf import STORE
from tests.functional.data import PatternSource


def main(argv: list[str]) -> int:
    conf_path, image_id, size, user_id, project_id = argv
    conf = cfg.CONF
    conf.register_opt(cfg.DictOpt("enabled_backends"))
    conf(["--config-file", conf_path], project="glance")
    multi_backend.register_store_opts(conf)
    multi_backend.create_multi_stores(conf)
    store = multi_backend.get_store_from_store_identifier(STORE)
    module = type(store).__module__
    if not module.startswith("glance_store._drivers.cinder"):
        raise SystemExit("store %s is %s, not the in-tree driver"
                         % (STORE, module))
    source = PatternSource(int(size))
    context = oslo_context.RequestContext(user_id=user_id,
                                          project_id=project_id)
    uri, written, checksum, multihash, _info = store.add(
        image_id, source, 0, "sha512", context=context)
    json.dump({"uri": uri, "size": written, "checksum": checksum,
               "multihash": multihash, "sent_md5": source.md5.hexdigest(),
               "sent_sha512": source.sha512.hexdigest()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
