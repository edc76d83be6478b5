"""Sphinx configuration of the glance_store_cinder documentation."""

import warnings
from importlib import metadata

# Loading the options imports glance_store's cinder driver, which imports
# os-brick and oslo.privsep, which warn about eventlet on import: not a
# problem of these docs, and not a Sphinx warning, but noise in the build.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

project = "glance_store_cinder"
copyright = "glance_store_cinder developers; Apache License 2.0"
author = "glance_store_cinder developers"

# The installed distribution's version, which setuptools-scm took from git
# (see contributor/releases.rst): the docs say which commit they describe.
release = metadata.version("glance-store-cinder")
version = release

extensions = [
    # Renders the options registered under the package's
    # ``oslo.config.opts`` entry point (``show-options``).
    "oslo_config.sphinxext",
]

exclude_patterns: list[str] = []
templates_path: list[str] = []
html_static_path: list[str] = []
html_theme = "alabaster"
html_title = "glance_store_cinder %s" % release
pygments_style = "sphinx"
# A reference that does not resolve is a mistake in the docs.
nitpicky = True
