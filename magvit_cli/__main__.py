"""`python -m magvit_cli` (also what `torchrun -m magvit_cli train ...` runs)."""
from .cli import main

main()
