"""Packaging: pyproject.toml, the `minirl` console script, LICENSE and CITATION.cff agree with the repo."""
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")        # Python 3.11+; the package itself needs only 3.10

ROOT = Path(__file__).resolve().parent.parent


def requirement_name(spec: str) -> str:
    """'torch>=2.1' -> 'torch'; names compared as PEP 503 normalises them."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_pyproject_parses(pyproject):
    project = pyproject["project"]
    assert project["name"] == "minirl"
    import minirl
    assert project["version"] == minirl.__version__
    assert pyproject["build-system"]["build-backend"] == "setuptools.build_meta"


def test_console_script_resolves_to_main(pyproject):
    target = pyproject["project"]["scripts"]["minirl"]
    assert target == "minirl.__main__:main"
    module, attr = target.split(":")
    main = getattr(importlib.import_module(module), attr)     # imports no torch: the trainers load lazily
    assert callable(main)
    argv = inspect.signature(main).parameters["argv"]         # the script calls main() with no arguments
    assert argv.default is None


def test_only_the_minirl_package_is_shipped(pyproject):
    assert pyproject["tool"]["setuptools"]["packages"] == ["minirl"]


def test_dependencies_are_in_requirements(pyproject):
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = {requirement_name(line) for line in lines if line.strip() and not line.lstrip().startswith("#")}
    missing = [d for d in pyproject["project"]["dependencies"] if requirement_name(d) not in pinned]
    assert not missing, f"in pyproject.toml but not in requirements.txt: {missing}"


def test_license_is_mit():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text


def test_citation_has_required_keys():
    text = (ROOT / "CITATION.cff").read_text()
    for key in ("cff-version", "title", "message", "authors"):
        assert re.search(rf"^{key}:", text, re.M), f"CITATION.cff lacks {key}:"
    assert re.search(r"^cff-version: *1\.2\.0\s*$", text, re.M)


def test_console_script_runs():
    exe = Path(sys.executable).parent / ("minirl.exe" if sys.platform == "win32" else "minirl")
    if not exe.exists():
        pytest.skip("no minirl executable next to this Python (run `pip install -e .` or `make setup`)")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "usage" in r.stdout
