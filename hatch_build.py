"""Build hook: compiles ``chorus_batch/formats/_walk.pyx`` (Cython, against the build's lxml)
into the source tree, where a checkout's tests and an editable install find it, and puts it in
the wheel. Where it cannot be compiled (no C compiler), the package is built without it and
reads in Python, unless ``CHORUS_REQUIRE_NATIVE=1`` (as in ``.ci/run``) makes that an error."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "chorus_batch/formats/_walk.pyx"


class NativeWalk(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        try:
            built = _compile(Path(self.root))
        except Exception as exc:  # the compiler's or Cython's own failure: reported, then pure Python
            if os.environ.get("CHORUS_REQUIRE_NATIVE") == "1":
                raise
            print(f"chorus-batch: {SOURCE} not compiled ({exc}); its steps run in Python", file=sys.stderr)
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":
            build_data["force_include"][str(built)] = built.relative_to(self.root).as_posix()


def _compile(root: Path) -> Path:
    import lxml
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    extension = Extension("chorus_batch.formats._walk", [SOURCE], include_dirs=lxml.get_include())
    with contextlib.chdir(root):  # an in-place build names its output from the current folder
        dist = Distribution({"ext_modules": cythonize([extension], quiet=True), "script_name": "hatch_build.py"})
        command = dist.get_command_obj("build_ext")
        command.inplace = True
        command.build_temp = "build/native"
        command.ensure_finalized()
        command.run()
        return root / command.get_ext_fullpath(extension.name)
