"""``python -m recast``: the command line, as the ``recast`` script runs it (``torchrun -m recast train …``
starts each training process this way)."""

from recast.cli.main import main

if __name__ == "__main__":
    main()
