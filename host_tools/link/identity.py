"""The firmware image and its identity, as the host computes them.

An image is what goes onto a board: firmware/main.py, firmware/flight/*, and the board's
definition as board.py. Its content hash is defined in docs/protocol.md (IDENT); the
firmware computes the same hash on the board over the files it really has.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from pathlib import Path

from host_tools.base.paths import BOARDS, FIRMWARE

# files at the root of an image that belong to it (firmware/flight/identity.py lists the same)
ROOT_FILES = ("main.py", "main.mpy", "board.py", "board.mpy", "rp2board.py", "rp2board.mpy")


def image_sources(board: str | None) -> dict[str, Path]:
    """Relative path on the board -> source file on the host."""
    files = {"main.py": FIRMWARE / "main.py"}
    for p in sorted((FIRMWARE / "flight").glob("*.py")):
        files[f"flight/{p.name}"] = p
    if board is not None:
        from host_tools.link.boards import support_files

        files["board.py"] = BOARDS / f"{board}.py"
        files.update(support_files(board))
    return files


def build_image(board: str, dest: Path) -> Path:
    """Copy the firmware and the board's definition into dest, laid out as on the flash."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "flight").mkdir(exist_ok=True)
    for rel, src in image_sources(board).items():
        shutil.copyfile(src, dest / rel)
    return dest


def content_hash(files: dict[str, bytes]) -> bytes:
    """First 8 bytes of SHA-256 over (path, NUL, u32 length, content), paths sorted."""
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        h.update(name.encode() + b"\0" + struct.pack("<I", len(data)) + data)
    return h.digest()[:8]


def hash_of_dir(root: Path) -> bytes:
    files = {}
    for name in ROOT_FILES:
        if (root / name).is_file():
            files[name] = (root / name).read_bytes()
    for p in (root / "flight").iterdir():
        if p.suffix in (".py", ".mpy"):
            files[f"flight/{p.name}"] = p.read_bytes()
    return content_hash(files)
