"""The package's PEP 517 build backend: maturin, after building the
``tracker`` command-line binary and putting it into the package
(``tracker/_bin/tracker``), so the wheel installs the same ``tracker``
command as ``cargo install`` would (maturin ships either an extension
module or binaries, not both).

``TRACKER_BUILD_PROFILE`` chooses the cargo profile of both (default
``release``; the tests use ``dev``, which reuses the workspace's debug
build).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import maturin

PACKAGE = Path(__file__).resolve().parent.parent
WORKSPACE = PACKAGE.parent.parent

# maturin's hooks run the `maturin` program: the one installed beside this
# interpreter (a virtual environment that is not activated) comes first.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _profile() -> str:
    return os.environ.get("TRACKER_BUILD_PROFILE", "release")


def _build_binary() -> None:
    profile = _profile()
    if profile != "release" and "MATURIN_PEP517_ARGS" not in os.environ:
        os.environ["MATURIN_PEP517_ARGS"] = f"--profile {profile}"
    command = [
        "cargo",
        "build",
        "--profile",
        profile,
        "--manifest-path",
        str(WORKSPACE / "Cargo.toml"),
        "-p",
        "tracker-cli",
        "--bin",
        "tracker",
    ]
    if (WORKSPACE / "Cargo.lock").is_file():
        command.append("--locked")
    sys.stderr.write(f"building the tracker binary: {' '.join(command)}\n")
    subprocess.run(command, check=True, stdout=sys.stderr)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or WORKSPACE / "target")
    if not target.is_absolute():
        target = WORKSPACE / target
    built = target / ("debug" if profile == "dev" else profile) / "tracker"
    bundled = PACKAGE / "python" / "tracker" / "_bin" / "tracker"
    bundled.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, bundled)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _build_binary()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _build_binary()
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)


build_sdist = maturin.build_sdist
get_requires_for_build_wheel = maturin.get_requires_for_build_wheel
get_requires_for_build_sdist = maturin.get_requires_for_build_sdist
prepare_metadata_for_build_wheel = maturin.prepare_metadata_for_build_wheel
if hasattr(maturin, "get_requires_for_build_editable"):
    get_requires_for_build_editable = maturin.get_requires_for_build_editable
if hasattr(maturin, "prepare_metadata_for_build_editable"):
    prepare_metadata_for_build_editable = maturin.prepare_metadata_for_build_editable
