"""The layout as documented: every top-level package drawn and described, and the domain free of HTTP."""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The model, the reads and the writes (the import-linter contract "domain-speaks-no-http" forbids the API
# framework; it cannot name Django's own HTTP modules, so they are checked here).
DOMAIN_MODULES = ["node/models.py", "node/selectors.py", "node/versions.py", "node/hostnames.py", "node/services"]
HTTP_MODULES = ("django.http", "django.views", "django.urls", "django.shortcuts", "django.template")


def top_level_packages() -> list[str]:
    """The repository's importable top-level packages: folders holding an ``__init__.py``."""
    return sorted(path.parent.name for path in REPO.glob("*/__init__.py") if not path.parent.name.startswith("."))


def readme_layout() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no Layout section"
    return section.group(1)


def test_the_packages_are_the_ones_the_layout_names() -> None:
    assert {"scale_nodes", "node", "util", "accounts", "serving", "observability", "waiting", "bench"} <= set(
        top_level_packages()
    ), top_level_packages()


@pytest.mark.parametrize("package", top_level_packages())
def test_every_top_level_package_is_in_the_layout_drawing(package: str) -> None:
    drawing = (REPO / "docs" / "layout.dot").read_text(encoding="utf-8")
    assert re.search(rf'label="{re.escape(package)}/', drawing), f"docs/layout.dot does not draw {package}/"


@pytest.mark.parametrize("package", top_level_packages())
def test_every_top_level_package_is_in_the_readme_layout(package: str) -> None:
    assert f"- `{package}/`" in readme_layout(), f"README.md's Layout section does not describe {package}/"


def _domain_files() -> list[Path]:
    files = []
    for name in DOMAIN_MODULES:
        path = REPO / name
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return files


@pytest.mark.parametrize("path", _domain_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_the_domain_imports_no_http(path: Path) -> None:
    imported = []
    for statement in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(statement, ast.Import):
            imported += [alias.name for alias in statement.names]
        elif isinstance(statement, ast.ImportFrom) and statement.module:
            imported.append(statement.module)
    offending = [name for name in imported if name.startswith(HTTP_MODULES)]
    assert not offending, f"{path.relative_to(REPO)} imports {offending}"
