"""`python -m seqlab` (and `torchrun -m seqlab`) runs the command line."""

import sys

from seqlab.cli.main import main

sys.exit(main())
