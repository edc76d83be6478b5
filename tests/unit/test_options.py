import dataclasses
import pathlib

import pytest
from glance_store import exceptions as gs_exc
from oslo_config import cfg

from glance_store_cinder import endpoint
from glance_store_cinder import options

IN_TREE_NAMES = set(options.SHARED_OPTION_NAMES)


def make_conf(text: str, tmp_path: pathlib.Path,
              groups: tuple[str, ...] = ("fast",)) -> cfg.ConfigOpts:
    path = tmp_path / "glance-api.conf"
    path.write_text(text)
    conf = cfg.ConfigOpts()
    for group in groups:
        options.register(conf, group)
    conf(["--config-file", str(path)], project="glance")
    return conf


def keystone_conf(tmp_path: pathlib.Path, *lines: str) -> cfg.ConfigOpts:
    """A [fast] group with Keystone's address and ``lines``."""
    return make_conf("[fast]\ncinder_store_auth_address = "
                     "http://keystone.test/v3\n%s\n" % "\n".join(lines),
                     tmp_path)


def test_every_in_tree_option_is_offered_with_the_same_type_and_default(
        ) -> None:
    from glance_store._drivers.cinder import store as in_tree
    ours = {o.name: o for o in options.store_options()}
    for opt in in_tree.Store.OPTIONS:
        assert opt.name in ours
        assert type(ours[opt.name]) is type(opt)
        assert ours[opt.name].default == opt.default


def test_every_option_is_read_into_one_setting() -> None:
    read = [f.metadata["option"]
            for f in dataclasses.fields(options.StoreSettings)
            if "option" in f.metadata]
    assert len(read) == len(set(read))
    declared = {o.name for o in options.store_options()}
    assert set(read) | set(options.DEPRECATED_ALIASES) == declared


def test_new_options_are_listed_for_the_sample_generator() -> None:
    [(group, opts)] = options.list_opts()
    names = {o.name for o in opts}
    assert group == "glance_store"
    assert IN_TREE_NAMES <= names
    assert {"cinder_store_multitenant", "cinder_bootable_volume_formats",
            "cinder_thin_provisioning", "cinder_store_tenant",
            "cinder_store_user", "cinder_store_key", "cinder_http_timeout",
            "cinder_recover_at_start"} <= names


def test_single_store_registration_beside_the_in_tree_driver(
        tmp_path: pathlib.Path) -> None:
    # glance_store's single-store mode registers every driver's options in
    # [glance_store]; ours must not collide with the in-tree ones.
    from glance_store import backend
    conf = cfg.ConfigOpts()
    backend.register_opts(conf)
    options.register(conf, "glance_store")
    conf([], project="glance")
    assert conf.glance_store.cinder_store_multitenant is False


def test_backend_defaults_fill_unset_options(tmp_path: pathlib.Path) -> None:
    conf = make_conf("""
[backend_defaults]
cinder_volume_type = shared-type
cinder_http_retries = 7
[fast]
cinder_http_retries = 2
""", tmp_path)
    s = options.StoreSettings.from_conf(conf, "fast")
    assert s.volume_type == "shared-type"
    assert s.http_retries == 2


def test_deprecated_aliases_fill_the_new_names(tmp_path: pathlib.Path) -> None:
    conf = keystone_conf(
        tmp_path, "cinder_store_user = olduser",
        "cinder_store_key = oldsecret",
        "cinder_store_tenant = oldproject")
    s = options.StoreSettings.from_conf(conf, "fast")
    assert (s.user_name, s.password, s.project_name) == (
        "olduser", "oldsecret", "oldproject")
    assert s.has_service_credentials


def test_password_is_not_in_repr(tmp_path: pathlib.Path) -> None:
    conf = keystone_conf(
        tmp_path, "cinder_store_user_name = u",
        "cinder_store_password = s3cr3t-value",
        "cinder_store_project_name = p")
    assert "s3cr3t-value" not in repr(
        options.StoreSettings.from_conf(conf, "fast"))


@pytest.mark.parametrize("line,option", [
    ("cinder_catalog_info = volumev3", "cinder_catalog_info"),
    ("cinder_catalog_info = :name:publicURL", "cinder_catalog_info"),
    ("cinder_endpoint_template = http://x/%(nope)s",
     "cinder_endpoint_template"),
    # keys the requester's context has but the service user has not
    ("cinder_endpoint_template = http://x/%(project_name)s",
     "cinder_endpoint_template.*project_name"),
    ("cinder_endpoint_template = http://x/%(domain)s",
     "cinder_endpoint_template.*domain"),
    # a token in a URL ends up in every log line naming the URL
    ("cinder_endpoint_template = http://x/%(auth_token)s",
     "cinder_endpoint_template.*auth_token"),
    ("cinder_endpoint_template = http://x/%s", "cinder_endpoint_template"),
    ("cinder_endpoint_template = http://x/%(tenant)d",
     "cinder_endpoint_template"),
    ("cinder_endpoint_template = http://x/%(tenant",
     "cinder_endpoint_template"),
    ("cinder_endpoint_template = http://x/%()s", "cinder_endpoint_template"),
    ("cinder_state_transition_timeout = 0",
     "cinder_state_transition_timeout"),
    ("cinder_attachment_retry_attempts = 0",
     "cinder_attachment_retry_attempts"),
    ("cinder_bootable_volume_formats = raw,floppy",
     "cinder_bootable_volume_formats"),
    ("cinder_mount_point_base = relative/dir", "cinder_mount_point_base"),
    ("cinder_enforce_multipath = true", "cinder_enforce_multipath"),
    ("cinder_http_timeout = 0", "cinder_http_timeout"),
    ("cinder_http_timeout = soon", "cinder_http_timeout"),
])
def test_invalid_values_name_the_option(tmp_path: pathlib.Path, line: str,
                                        option: str) -> None:
    conf = make_conf("[fast]\n%s\n" % line, tmp_path)
    with pytest.raises(gs_exc.BadStoreConfiguration, match=option):
        options.StoreSettings.from_conf(conf, "fast")


def test_incomplete_service_credentials_name_what_is_missing(
        tmp_path: pathlib.Path) -> None:
    conf = keystone_conf(tmp_path, "cinder_store_user_name = u")
    with pytest.raises(gs_exc.BadStoreConfiguration,
                       match="cinder_store_password, "
                             "cinder_store_project_name"):
        options.StoreSettings.from_conf(conf, "fast")


def test_no_service_user_means_requester_token(tmp_path: pathlib.Path) -> None:
    s = options.StoreSettings.from_conf(make_conf("[fast]\n", tmp_path),
                                        "fast")
    assert not s.has_service_credentials
    assert s.uses_requester_token


def test_application_credential_is_service_identity(
        tmp_path: pathlib.Path) -> None:
    conf = keystone_conf(
        tmp_path, "cinder_store_application_credential_id = abc",
        "cinder_store_application_credential_secret = def")
    s = options.StoreSettings.from_conf(conf, "fast")
    assert s.uses_application_credential and s.has_service_credentials
    assert not s.uses_requester_token


def test_default_root_helper_uses_rootwrap_config(
        tmp_path: pathlib.Path) -> None:
    conf = make_conf("[fast]\nrootwrap_config = /etc/g/rw.conf\n", tmp_path)
    s = options.StoreSettings.from_conf(conf, "fast")
    assert s.root_helper == "sudo glance-rootwrap /etc/g/rw.conf"


@pytest.mark.parametrize("template", [
    "http://cinder/v3/%(tenant)s", "http://cinder/v3/%(project_id)s",
    "http://cinder/v3/%(project_id)s?u=%(user)s&i=%(user_id)s",
    "http://cinder/v3", "http://cinder/v3/100%%",
])
def test_endpoint_templates_with_the_formatted_keys_pass(
        tmp_path: pathlib.Path, template: str) -> None:
    conf = make_conf("[fast]\ncinder_endpoint_template = %s\n" % template,
                     tmp_path)
    settings = options.StoreSettings.from_conf(conf, "fast")
    assert settings.endpoint_template is not None
    assert endpoint.format_endpoint(
        settings.endpoint_template, "p1", "u1").startswith("http://cinder/")
