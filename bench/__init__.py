"""Benchmark: this driver against the in-tree cinder driver and the machine.

Run ``python -m bench`` (as root, on the machine of
``tools/openstack-aio/up``); see ``bench/README.md``.
"""
