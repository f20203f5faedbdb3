"""``python -m wizard``: the same as the ``sharegpt4v-setup`` command."""

import sys

from .cli import main

sys.exit(main())
