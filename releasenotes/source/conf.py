"""Sphinx configuration of the glance_store_cinder release notes (reno)."""

project = "glance_store_cinder Release Notes"
copyright = "glance_store_cinder developers; Apache License 2.0"
author = "glance_store_cinder developers"

# The notes are grouped by the git tags reno finds; there is no version to
# set here.
release = ""
version = ""

extensions = [
    "reno.sphinxext",
]

exclude_patterns: list[str] = []
templates_path: list[str] = []
html_static_path: list[str] = []
html_theme = "alabaster"
pygments_style = "sphinx"
nitpicky = True
