"""Tests for convcli.atomic: it needs neither NumPy nor Pillow, and is what convcli.images uses.

The behaviour of :func:`atomic_write` itself (temporary sibling, rename, errors)
is tested through ``convcli.images`` in test_images.py and test_faults.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import convcli.atomic
import convcli.images

REPO = Path(__file__).resolve().parent.parent


def test_atomic_write_imports_no_numpy_or_pillow(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from convcli.atomic import atomic_write\n"
        f"with atomic_write({str(tmp_path / 'report.json')!r}) as tmp:\n"
        "    tmp.write_text('{\"ok\": 1}')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'PIL'))\n"
        "print(json.dumps(heavy))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == []
    assert json.loads((tmp_path / "report.json").read_text()) == {"ok": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_images_reexports_the_same_atomic_write() -> None:
    assert convcli.images.atomic_write is convcli.atomic.atomic_write
