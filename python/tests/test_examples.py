"""The README's Python example is python/examples/quickstart.py, and it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "quickstart.py"
README = HERE.parents[1] / "README.md"


def test_readme_holds_the_example():
    readme = README.read_text()
    block = "```python\n" + EXAMPLE.read_text() + "```\n"
    assert block in readme, "README.md's Python example differs from python/examples/quickstart.py"


def test_the_example_runs():
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"handled 4 records" in done.stdout
