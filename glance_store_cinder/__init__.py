"""Cinder image store for OpenStack Glance.

Each image lives in its own Cinder volume.  The store is loaded by
glance_store through the ``glance_store.drivers`` entry point under the
type name :data:`glance_store_cinder.store.STORE_TYPE`.
"""
