"""``python -m jupyter_ext.relay``: the same as ``codestream relay``."""

import sys

from .server import main

sys.exit(main())
