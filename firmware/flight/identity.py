# The firmware's identity: a hash over the files it runs from, computed on the board
# itself so that the host can verify what is really on the flash.
import os

try:
    from hashlib import sha256

    _HAVE_SHA256 = True
except ImportError:  # a port built without hashlib
    _HAVE_SHA256 = False


def image_files(root):
    # the files of a firmware image, as sorted paths relative to root
    names = []
    for name in ("main.py", "main.mpy", "board.py", "board.mpy", "rp2board.py", "rp2board.mpy"):
        if file_exists(root + "/" + name):
            names.append(name)
    for name in sorted(os.listdir(root + "/flight")):
        if name.endswith(".py") or name.endswith(".mpy"):
            names.append("flight/" + name)
    names.sort()
    return names


def file_exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def content_hash(root):
    # first 8 bytes of SHA-256 over (path, NUL, length as 4 bytes LE, content) of each file
    if not _HAVE_SHA256:
        return bytes(8)
    h = sha256()
    buf = bytearray(512)
    for name in image_files(root):
        h.update(name.encode())
        h.update(b"\0")
        size = os.stat(root + "/" + name)[6]
        h.update(bytes((size & 255, (size >> 8) & 255, (size >> 16) & 255, (size >> 24) & 255)))
        with open(root + "/" + name, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(buf[:n])
    return h.digest()[:8]
