"""Run the CLI with ``python -m convcli``."""

from convcli.cli import main

main()
