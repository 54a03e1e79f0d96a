"""The build (``hatch_build.py``): a wheel holds ``formats/_walk`` compiled for its platform;
where the C compiler fails, the wheel is built all the same, for any platform, and reads in
Python, unless ``CHORUS_REQUIRE_NATIVE=1`` makes that failure the build's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _project(tmp_path: Path) -> Path:
    """What a wheel is built from, copied without any earlier build's output."""
    project = tmp_path / "project"
    ignored = shutil.ignore_patterns("__pycache__", "*.so", "_walk.c")
    shutil.copytree(ROOT / "chorus_batch", project / "chorus_batch", ignore=ignored)
    shutil.copytree(ROOT / "schemas", project / "schemas")
    for name in ("pyproject.toml", "hatch_build.py", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, project / name)
    return project


def _wheel(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(project / "dist"), str(project)]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=600)


def _members(project: Path) -> tuple[str, list[str]]:
    (wheel,) = (project / "dist").glob("*.whl")
    return wheel.name, zipfile.ZipFile(wheel).namelist()


def test_the_wheel_holds_the_compiled_module(tmp_path: Path) -> None:
    project = _project(tmp_path)
    built = _wheel(project)
    assert built.returncode == 0, built.stderr
    name, members = _members(project)
    assert "-none-any" not in name  # for this platform
    assert any(m.startswith("chorus_batch/formats/_walk.") and m.endswith(".so") for m in members)


def test_without_a_compiler_the_wheel_reads_in_python(tmp_path: Path) -> None:
    project = _project(tmp_path)
    env = {"CC": "false", "CHORUS_REQUIRE_NATIVE": "0"}
    built = _wheel(project, **env)
    assert built.returncode == 0, built.stderr
    name, members = _members(project)
    assert name.endswith("-py3-none-any.whl")
    assert not [m for m in members if m.endswith(".so")]
    assert "chorus_batch/formats/xml.py" in members


def test_a_required_module_that_does_not_compile_fails_the_build(tmp_path: Path) -> None:
    project = _project(tmp_path)
    built = _wheel(project, CC="false", CHORUS_REQUIRE_NATIVE="1")
    assert built.returncode != 0
    assert not (project / "dist").exists() or not list((project / "dist").glob("*.whl"))
