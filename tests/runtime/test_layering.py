"""No import runs back up the tree: every module of `runtime` sits on a declared layer and imports only from
its own layer or the ones below, wherever the import is written (top level, in a function, under TYPE_CHECKING)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A part may import its own layer and those below it; a new top-level module or package must be
# given a layer here before it can pass.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("units", "errors", "published", "rundir", "sqlitefile"),  # leaves: no knowledge of any part
    ("auth", "cgroups", "storage", "mountns", "images", "pyenv"),  # parts whose settings config may hold
    ("config",),
    ("admission", "routing", "components"),  # what config decides, shared by the supervisor and the router
    ("supervisor",),
    ("models", "confinement"),  # what the supervisor is given: artifacts, isolation
    ("router", "metrics"),
    ("control",),
    ("asyncinv",),  # InvokeEndpointAsync: reads endpoint configs from the control plane, wired by the front door
    ("fleet", "fleetidle", "copies"),  # the reconciler's generations and the components' copies as supervisor units
    ("frontdoor",),
    ("dataplane",),  # HAProxy in front of the front door (Coserve.Server.DataPlane: haproxy)
    ("main",),
    ("cli", "__main__"),
)
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def part(module: str) -> str:
    """runtime.router.app -> router"""
    return module.split(".")[1]


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every runtime import in the file; `from runtime import x` names runtime.x."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("runtime.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "runtime":
                found += [(node.lineno, f"runtime.{a.name}") for a in node.names]
            elif node.module.startswith("runtime."):
                found.append((node.lineno, node.module))
    return found


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted((ROOT / "runtime").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if rel.parts[1:] != ("__init__",):
            out.append((".".join(rel.parts), path))
    return out


def test_every_part_has_a_layer() -> None:
    unplaced = sorted({part(m) for m, _ in modules()} - set(LEVEL))
    assert unplaced == [], f"give these a layer in {__file__}: {unplaced}"


def test_no_import_runs_up_the_tree() -> None:
    upward = []
    for module, path in modules():
        here = LEVEL.get(part(module))
        for line, target in imports(path):
            there = LEVEL.get(part(target))
            if here is not None and there is not None and there > here:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {target}")
    assert upward == [], "imports up the tree:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The walk above must not pass by seeing nothing: a function-level upward import is found."""
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from runtime.frontdoor import FrontDoor\n    from runtime import main\n")
    assert imports(sample) == [(2, "runtime.frontdoor"), (3, "runtime.main")]
    assert LEVEL[part("runtime.frontdoor")] > LEVEL[part("runtime.metrics.hub")]


def test_no_module_imports_another_modules_private_names() -> None:
    private = []
    for folder in ("runtime", "adapters", "servers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                    if names and node.module.split(".")[0] in ("runtime", "adapters", "servers"):
                        private.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module} {names}")
    assert private == [], "private names imported from another module:\n" + "\n".join(private)
