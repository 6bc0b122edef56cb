"""The function code asset holds exactly what the functions import: starting from each function's handler module,
every project module imported (at any depth, including imports inside functions) and the packages they live in."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from stacks.packaging import FUNCTIONS_DIR, function_code_files
from tests.infra.cfn import resources
from tests.infra.conftest import Synth


# Shared building blocks the handlers' rewrite onto the application layer imports; on a branch where a handler
# does not import one yet, it is listed here. An entry that becomes imported must go (the test says so).
def module_file(name: str) -> Path | None:
    """The asset-relative file of a project module or package, or None for anything else (stdlib, libraries)."""
    parts = name.split(".")
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
        if (FUNCTIONS_DIR / candidate).is_file():
            return candidate
    return None


def imported_modules(file: Path) -> set[str]:
    """Every module name an ``import`` in the file may load (``from a import b`` may load ``a.b``)."""
    package = file.parent.parts if file.name == "__init__.py" else file.with_suffix("").parent.parts
    names: set[str] = set()
    for node in ast.walk(ast.parse((FUNCTIONS_DIR / file).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            anchor = list(package[: len(package) - node.level + 1]) if node.level else []
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return names


def with_parents(name: str) -> Iterable[str]:
    """Importing ``a.b.c`` runs ``a`` and ``a.b`` first."""
    parts = name.split(".")
    return (".".join(parts[:index]) for index in range(1, len(parts) + 1))


def reachable(roots: Iterable[str]) -> set[Path]:
    """The project files the roots import, transitively."""
    seen: set[Path] = set()
    pending = list(roots)
    while pending:
        for name in with_parents(pending.pop()):
            file = module_file(name)
            if file is not None and file not in seen:
                seen.add(file)
                pending += imported_modules(file)
    return seen


def handler_modules(*synths: Synth) -> set[str]:
    """``handlers.<function>`` of every function the stacks deploy."""
    functions = [
        props
        for synth in synths
        for template in synth.templates.values()
        for props in resources(template, "AWS::Lambda::Function").values()
    ]
    return {props["Properties"]["Handler"].rsplit(".", 1)[0] for props in functions if "Handler" in props["Properties"]}


def test_the_asset_holds_everything_the_functions_import(full_synth: Synth, spoke_synth: Synth) -> None:
    assert reachable(handler_modules(full_synth, spoke_synth)) - set(function_code_files()) == set()


def test_every_file_of_the_asset_is_imported_by_a_function(full_synth: Synth, spoke_synth: Synth) -> None:
    # A spoke deploys one function a single stack has not: estate_sync (the hub's silences, docs/estate.md).
    assert set(function_code_files()) - reachable(handler_modules(full_synth, spoke_synth)) == set()


def test_the_asset_is_python_sources_of_the_handlers_and_the_core_only() -> None:
    files = function_code_files()
    assert {file.parts[0] for file in files} == {"handlers", "vpn_doctor"}
    assert {file.suffix for file in files} == {".py"}
