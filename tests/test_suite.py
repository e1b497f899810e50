"""The suite's own machinery: what `make test` relies on to run in its time."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_xdist_groups_are_honoured(tmp_path):
    # GIVEN a test of an xdist_group (as the emulated board's and the flown campaign's tests are)
    (tmp_path / "test_grouped.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.xdist_group("shared")
        def test_grouped(request):
            assert request.node.nodeid.endswith("@shared"), request.node.nodeid
    """))
    # WHEN it runs the way `make test` runs the suite
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
                        "-p", "no:cacheprovider", str(tmp_path / "test_grouped.py")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    # THEN pytest-xdist scheduled it by its group (else such tests land on both workers, and
    # each worker sets up the group's board or campaign again)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
