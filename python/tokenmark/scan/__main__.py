"""``python -m tokenmark.scan INPUT... --config ... --out ...``."""

import sys

from .cli import main

sys.exit(main())
