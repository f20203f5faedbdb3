"""``python -m wizard``: the same as the ``sharegpt4v-setup`` command."""

import sys

from .entry import main

sys.exit(main())
