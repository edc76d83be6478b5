#!/usr/bin/env python3
"""Entry point of the up, down and status wrappers (see README.md).

The code is the ``openstack_aio`` package beside this file (standard library
only: it runs before any virtualenv exists)."""

import sys

from openstack_aio.cli import main

if __name__ == "__main__":
    sys.exit(main())
