"""CI guard of the benchmark suite: a small, fast run (1,000 students, a few seconds of load)
that fails only on a gross regression measured as a ratio, never on an absolute time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    not (shutil.which("wrk") and shutil.which("node")), reason="wrk and node needed"
)
def test_dashboard_throughput_is_not_far_below_the_floor(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--sizes", "1000", "--no-readme"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout.strip().splitlines()[-1])
    (size,) = run["results"]
    wrk = size["wrk"]
    assert wrk["floor"]["errors"] == 0 and wrk["dashboard"]["errors"] == 0
    assert wrk["dashboard"]["ratio_to_floor"] >= 0.3, wrk
    assert size["cold_start_ms"]["p95"] > 0
    if (ROOT / ".git").exists():  # the results name the code they measured
        assert run["commit"] and run["commit"].split("+")[0].isalnum(), run["commit"]
