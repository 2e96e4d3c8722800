"""`python -m charwise ...` (also what `torchrun -m charwise train ...` runs)."""

import sys

from .cli import main

sys.exit(main())
