"""``python -m recast.cli`` runs the command line (same as the ``recast`` script)."""

from recast.cli.main import main

main()
