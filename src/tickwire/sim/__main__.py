"""``python -m tickwire.sim ...`` = ``tickwire sim ...``."""
from __future__ import annotations

import typer

from tickwire.sim.cli import sim

if __name__ == "__main__":
    typer.run(sim)
