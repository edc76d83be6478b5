"""glance_store loads this driver the way glance-api does."""

import pathlib

from glance_store import location as gs_location
from glance_store import multi_backend
from oslo_config import cfg

from glance_store_cinder.store import STORE_TYPE
from glance_store_cinder.store import Store


def test_create_multi_stores_loads_two_stores_by_entry_point(
        tmp_path: pathlib.Path) -> None:
    conf_file = tmp_path / "glance-api.conf"
    conf_file.write_text(f"""
[DEFAULT]
enabled_backends = fast:volume, slow:volume
[glance_store]
default_backend = fast
[fast]
cinder_volume_type = glance-fast
cinder_mount_point_base = {tmp_path}/fast
[slow]
cinder_volume_type = glance-slow
cinder_mount_point_base = {tmp_path}/slow
""")
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.DictOpt("enabled_backends"))
    conf(["--config-file", str(conf_file)], project="glance")

    multi_backend.register_store_opts(conf)
    assert multi_backend.create_multi_stores(conf) == 4  # 2 stores x 2

    for name, vtype in (("fast", "glance-fast"), ("slow", "glance-slow")):
        entry = gs_location.SCHEME_TO_CLS_BACKEND_MAP["cinder"][name]
        store = entry["store"]
        assert type(store) is Store
        assert entry["store_entry"] == STORE_TYPE
        assert store.runtime.settings.volume_type == vtype
        assert store.url_prefix == "cinder://%s/" % name
        assert STORE_TYPE in gs_location.SCHEME_TO_CLS_BACKEND_MAP
        loc = gs_location.get_location_from_uri_and_backend(
            "cinder://%s/0b4f2b1e-4a45-4c2b-9d35-3f0a9a4b8f10" % name, name,
            conf=conf)
        assert loc.store_location.volume_id == \
            "0b4f2b1e-4a45-4c2b-9d35-3f0a9a4b8f10"
