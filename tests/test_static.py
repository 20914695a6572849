"""Static checks that are part of the suite: the layering contract and types."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).parent / name)


def test_import_contracts_are_kept():
    result = subprocess.run(
        [tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_types_check_strictly_in_the_ledger():
    result = subprocess.run(
        [
            tool("mypy"),
            "--no-incremental",
            "ledger",
            "retention",
            "redaction",
            "reports",
            "api",
            "custody_client",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
