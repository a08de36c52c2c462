"""The ``tracker`` command installed with the package: the Rust binary
built into the wheel (``tracker/_bin/tracker``), run in place of this
process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The binary's path inside the installed package.
BINARY = Path(__file__).resolve().parent / "_bin" / "tracker"


def main() -> None:
    """Runs the bundled ``tracker`` binary with this process's arguments."""
    if not os.access(BINARY, os.X_OK):
        sys.stderr.write(
            f"error: the tracker binary is missing from this installation ({BINARY})\n"
            "hint: install the package from a wheel or a clone (pip install crates/tracker-py), "
            "which builds it\n"
        )
        raise SystemExit(2)
    os.execv(BINARY, [str(BINARY), *sys.argv[1:]])


if __name__ == "__main__":
    main()
