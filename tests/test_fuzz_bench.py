"""scripts/bench/fuzz.py on its quick config and --set groups: the real CLI, no traceback,
no silent acceptance of a bad value (about 15 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_config_and_set_fuzz_is_clean() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench" / "fuzz.py"), "--groups", "config,set",
         "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["cases"] >= 60 and set(result["groups"]) == {"config", "set"}
    for count in ("crashes", "tracebacks", "silent_ok", "hangs", "bad_data_stored",
                  "wrong_refusals"):  # fmt: skip
        assert result[count] == 0, (count, result["failures"])
