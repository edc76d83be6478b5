"""All-in-one Keystone + Cinder (NFS) + RabbitMQ + Glance for functional tests.

Called through the ``up``, ``down`` and ``status`` wrappers beside this
package.  Standard library only: it runs before any virtualenv exists.

Everything lives under ``$GSC_AIO_DIR`` (default
/var/lib/glance-store-cinder-aio).  Services listen on 127.0.0.1 only.
"""
