"""The test suite's own layout: unit tests named after the module they test, helpers only in shared places."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
COLLAB = TESTS.parent / "collab"
HELPERS = ("tests.support", "tests.plugins", "tests.clients", "tests.wikiclient")
# Unit test modules of the adapters' pure parts, named after their package and module.
ADAPTER_UNITS = {
    "test_sio_transport": COLLAB / "sio" / "transport.py",
    "test_cluster_codec": COLLAB / "cluster" / "codec.py",
    "test_mediawiki": COLLAB / "mediawiki" / "access.py",
    "test_admin_auth": COLLAB / "admin" / "auth.py",
    "test_admin_sessions": COLLAB / "admin" / "sessions.py",
    "test_mediawiki_total": COLLAB / "mediawiki" / "editor.py",
}


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "tests":  # from tests import clients
            modules.update(f"tests.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_no_test_module_imports_another_test_module():
    for path in [*TESTS.glob("test_*.py"), *TESTS.glob("unit/test_*.py")]:
        for module in imported_modules(path):
            if module.startswith("tests."):
                assert module.startswith(HELPERS), f"{path.relative_to(TESTS)} imports {module}"


def test_every_unit_test_module_is_named_after_the_module_it_tests():
    for path in TESTS.glob("unit/test_*.py"):
        tested = ADAPTER_UNITS.get(path.stem, COLLAB / f"{path.stem.removeprefix('test_')}.py")
        assert tested.is_file(), f"{path.relative_to(TESTS)} names no module of collab/"
