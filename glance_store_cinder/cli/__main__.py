"""``python -m glance_store_cinder.cli``."""

import sys

from glance_store_cinder.cli import main

sys.exit(main())
