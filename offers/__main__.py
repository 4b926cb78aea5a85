"""``python -m offers``: the same as the ``offers`` command."""

from offers.cli import main

main()
