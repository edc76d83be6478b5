"""What the functional tests, the benchmark and the demo share.

Not part of the package (setup.cfg leaves it out of the wheel): image data
(:mod:`testing_support.imagedata`), the stack's env file and users
(:mod:`testing_support.stack`), and a second glance-api beside the
stack's, with glance_store's in-tree driver or this one
(:mod:`testing_support.second_api`).  Waiting is the package's own
:class:`glance_store_cinder.polling.Poller`, here as everywhere.
"""
