"""`python -m magvit_cli` (also what `torchrun -m magvit_cli train ...` runs)."""
from .cli import main

if __name__ == "__main__":  # not again in a data worker, which imports the main module (engine.worker_start)
    main()
