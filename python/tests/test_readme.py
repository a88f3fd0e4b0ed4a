"""The README's Python example runs as written (from the repository root)."""

import subprocess
import sys

from conftest import REPO

MARKER = "<!-- python-example: run by python/tests/test_readme.py -->"


def readme_example():
    text = (REPO / "README.md").read_text()
    after = text[text.index(MARKER) + len(MARKER):]
    start = after.index("```python\n") + len("```python\n")
    return after[start:after.index("```", start)]


def test_readme_example_runs():
    code = readme_example()
    assert "cc.MLModel" in code and "cc.llm.Model" in code
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    # The accumulator's state sums x: after three steps of [1, 2, 3, 4], 3 * x.
    assert "'new_acc': array([[ 3.,  6.,  9., 12.]], dtype=float16)" in run.stdout, run.stdout
