"""The verifier's promise, checked from its source: it imports nothing but the standard
library, PyNaCl and its own modules, so an auditor can run it without the service. (The
import contracts, mypy and ruff run from .ci/run beside the suite.)"""

import ast
import sys
from pathlib import Path

VERIFY = Path(__file__).resolve().parents[1] / "verify"
ALLOWED = set(sys.stdlib_module_names) | {"nacl", "verify"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_verifier_imports_only_the_standard_library_and_pynacl():
    modules = sorted(VERIFY.glob("*.py"))
    assert len(modules) >= 8
    outside = {m.name: imported_roots(m) - ALLOWED for m in modules}
    assert {name: roots for name, roots in outside.items() if roots} == {}


def test_the_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import hashlib\nfrom sqlalchemy import select\nimport nacl.signing\n")
    assert imported_roots(module) - ALLOWED == {"sqlalchemy"}
