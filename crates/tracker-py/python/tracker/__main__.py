"""``python -m tracker …`` is the ``tracker`` command."""

from ._cli import main

main()
