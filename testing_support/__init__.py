"""What the functional tests, the benchmark and the demo share.

Not part of the package (setup.cfg leaves it out of the wheel): image data
(:mod:`testing_support.imagedata`) and the stack's env file and users
(:mod:`testing_support.stack`).  Waiting is the package's own
:class:`glance_store_cinder.polling.Poller`, here as everywhere.
"""
