"""Shared fixtures for the cross-layer tests: the hemalens binary, the repo, the data."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def hemalens_bin():
    env = os.environ.get("HEMALENS_BIN")
    if env:
        return Path(env)
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "hemalens"
        if p.exists():
            return p
    pytest.fail("hemalens binary not built: run `cargo build --release` or set HEMALENS_BIN")


def data_dir():
    """../shared/data, or HEMALENS_DATA. Missing data fails loudly in CI, skips elsewhere."""
    d = Path(os.environ.get("HEMALENS_DATA", ROOT.parent / "shared" / "data"))
    if not (d / "README.md").exists():
        msg = f"shared data not found at {d} (set HEMALENS_DATA)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def hemalens():
    exe = hemalens_bin()

    def run(*args, check=True, cwd=None):
        r = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)
        if check and r.returncode not in (0, 1):
            raise AssertionError(f"hemalens {args} exited {r.returncode}: {r.stderr}")
        return r

    return run


@pytest.fixture(scope="session")
def data():
    return data_dir()


@pytest.fixture(scope="session")
def hl(tmp_path_factory):
    """The Python bindings as an app gets them: the committed `hemalens` package
    (rust-core/ffi/bindings/python) beside the library built from this tree
    (scripts/bindings.sh --check keeps the two in step). HEMALENS_PY_BINDINGS
    may name a folder holding such a package instead."""
    where = os.environ.get("HEMALENS_PY_BINDINGS")
    if not where:
        rel = ROOT / "target" / "release"
        if not (rel / "libhemalens_ffi.so").exists():
            pytest.fail("libhemalens_ffi.so not built: run `cargo build --release -p hemalens-ffi`")
        where = tmp_path_factory.mktemp("pybind")
        pkg = where / "hemalens"
        shutil.copytree(ROOT / "rust-core" / "ffi" / "bindings" / "python" / "hemalens", pkg)
        for so in ("libhemalens_ffi.so", "libLiteRt.so"):
            shutil.copy(rel / so, pkg / so)
    sys.path.insert(0, str(where))
    import hemalens

    return hemalens
