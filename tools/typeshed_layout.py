"""Lay the MicroPython stub packages out as typesheds that mypy accepts.

mypy's --custom-typeshed-dir wants `stdlib/` and `stubs/mypy-extensions/`; the stub
packages ship `stdlib/` inside them. For each board folder under the typings directory,
make `<board>-typeshed/` with both.
"""

import shutil
import sys
from pathlib import Path

import mypy

typings = Path(sys.argv[1])
mypy_stubs = Path(mypy.__file__).parent / "typeshed" / "stubs" / "mypy-extensions"
for board in ("pico", "pico2"):
    dest = typings / f"{board}-typeshed"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(typings / board / "stdlib", dest / "stdlib")
    shutil.copytree(mypy_stubs, dest / "stubs" / "mypy-extensions")
