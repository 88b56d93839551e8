"""The package layout: imports point only downward (listen → think → speak →
show), and no module imports another that imports it back."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# a package may import those on a lower layer, and its own modules
LAYERS = {
    "stage.core": 0,
    "voices": 1,
    "avatar": 1,
    "stage.listen": 2,
    "stage.think": 2,
    "stage.timeline": 3,
    "stage.session": 4,
    "stage.panel": 5,
    "stage.transport": 6,
    "stage.offline": 6,
    "stage.booth": 7,
    "stage.tools": 8,
}


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("stage", "avatar", "voices"):
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports, at its top or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n in known and n != name}
    return out


def _package(module: str) -> str:
    return next(p for p in sorted(LAYERS, key=len, reverse=True) if module == p or module.startswith(p + "."))


def test_every_module_has_a_layer():
    assert not [m for m in _modules() if m != "stage" and not any(m == p or m.startswith(p + ".") for p in LAYERS)]


def test_imports_point_only_downward():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        if name == "stage":
            continue
        here = _package(name)
        for target in _imports(path, name, set(modules)):
            if target == "stage":
                continue
            there = _package(target)
            if there != here and LAYERS[there] >= LAYERS[here]:
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_no_module_imports_in_a_circle():
    modules = _modules()
    graph = {name: _imports(path, name, set(modules)) - {"stage"} for name, path in modules.items()}
    # a package's __init__ is imported with each of its modules: it is not an edge back
    graph = {n: {t for t in targets if not n.startswith(t + ".")} for n, targets in graph.items()}
    circles, done, stack = [], set(), []

    def visit(node: str) -> None:
        if node in stack:
            circles.append(" → ".join(stack[stack.index(node) :] + [node]))
            return
        if node in done:
            return
        stack.append(node)
        for target in sorted(graph[node]):
            visit(target)
        stack.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)
    assert circles == []


def test_no_class_over_200_lines_and_no_function_over_100():
    """Readable in an afternoon: a class that grows past 200 lines holds two things, a function past 100 does two jobs."""
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            size = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, ast.ClassDef) and size > 200:
                long.append(f"class {name}.{node.name}: {size} lines")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and size > 100:
                long.append(f"function {name}.{node.name}: {size} lines")
    assert long == []


def test_transports_reach_sessions_only_through_their_ports():
    """What moves media (aiortc tracks, LiveKit broadcasts, the stage view) reads a
    session's ports, never the session; and nothing in transport/ but the server's
    own command reaches for the aiortc server (the LiveKit worker takes a Cast)."""
    modules = _modules()
    known = set(modules)
    media = [
        "stage.transport.webrtc",
        "stage.transport.pacing",
        "stage.transport.rooms.publish",
        "stage.transport.stage_view",
    ]
    wrong = [
        f"{m} imports {t}"
        for m in media
        for t in _imports(modules[m], m, known)
        if t.startswith("stage.session")
        and t not in ("stage.session.ports", "stage.session.ports.AvatarOutput", "stage.session.ports.AudioIn")
    ]
    wrong += [
        f"{m} imports the aiortc server"
        for m in known
        if m.startswith("stage.transport.") and m != "stage.transport.server"
        if any(t.startswith("stage.transport.server") for t in _imports(modules[m], m, known))
    ]
    assert wrong == []
