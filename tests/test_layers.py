"""The package's layers read top-down: no module imports a module that (through any chain, and
counting imports inside functions) imports it back."""

import ast
from pathlib import Path

import gan_cli

PACKAGE = Path(gan_cli.__file__).parent


def module_names() -> dict[str, Path]:
    names = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return names


def imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package's modules it imports anywhere in its file (functions included)."""
    def owner(name):  # gan_cli.models.dcgan.DCGAN -> gan_cli.models.dcgan
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {m: set() for m in modules}
    for m, f in modules.items():
        package = m if f.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                named = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
                named = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            graph[m] |= {owner(n) for n in named if n.split(".")[0] == "gan_cli" and owner(n) not in ("", m)}
    return graph


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle, found by a depth-first search for an edge back into the current path."""
    found, done = [], set()

    def visit(m, path):
        for n in sorted(graph[m]):
            if n in path:
                found.append(path[path.index(n):] + [n])
            elif n not in done:
                visit(n, path + [n])
        done.add(m)

    for m in sorted(graph):
        if m not in done:
            visit(m, [m])
    return found


def test_the_loop_finder_sees_a_loop_through_a_function_import():
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert loops({"a": {"b"}, "b": set()}) == []
    graph = imports(module_names())
    assert "gan_cli.models" in graph["gan_cli.config"]  # config imports models inside a function


def test_no_module_imports_a_module_that_imports_it():
    assert [" -> ".join(cycle) for cycle in loops(imports(module_names()))] == []
