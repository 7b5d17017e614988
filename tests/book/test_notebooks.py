"""Book consistency: notebooks ↔ _toc.yml ↔ catalog, metadata, the Check section, stripped outputs, imports."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]
ALLOWED_IMPORTS = {"ntkbook", "jax", "flax", "numpy", "matplotlib", "optax"}
FIDELITY = {"full", "scaled", "proxy"}


def catalog_papers() -> dict[str, dict]:
    catalog = yaml.safe_load((ROOT / "book" / "catalog.yml").read_text())
    papers = {}
    for part in catalog["parts"]:
        for chapter in part["chapters"]:
            for paper in chapter["papers"]:
                papers[paper["id"]] = {**paper, "chapter": chapter["id"]}
    return papers


def toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = set()

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.add(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return files


def ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS, "the book has no notebooks"


def test_every_toc_notebook_exists():
    for entry in toc_files():
        if entry.startswith("notebooks/"):
            assert (ROOT / f"{entry}.ipynb").exists(), f"_toc.yml lists {entry} but there is no such notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
class TestNotebook:
    def nb(self, path):
        return nbformat.read(path, as_version=4)

    def test_in_toc(self, path):
        assert str(path.relative_to(ROOT).with_suffix("")) in toc_files(), f"{path.name} is missing from _toc.yml"

    def test_metadata_matches_catalog_and_path(self, path):
        meta = self.nb(path).metadata.get("ntkbook")
        assert meta, "notebook metadata has no 'ntkbook' entry"
        for key in ("paper", "title", "arxiv", "chapter", "fidelity"):
            assert meta.get(key), f"metadata ntkbook.{key} is missing"
        paper = catalog_papers().get(meta["paper"])
        assert paper, f"{meta['paper']} is not in book/catalog.yml"
        assert meta["chapter"] == paper["chapter"] == path.parent.name
        assert path.stem == f"{meta['paper'].lower()}-{paper['slug']}"
        assert meta["title"] == paper["title"]
        assert meta["fidelity"] in FIDELITY
        assert re.fullmatch(r"\d{4}\.\d{4,5}", str(meta["arxiv"])), "arxiv must be an identifier like 2311.14646"
        assert self.nb(path).metadata.get("kernelspec", {}).get("name") == "python3"

    def test_no_stored_outputs(self, path):
        for i, cell in enumerate(self.nb(path).cells):
            if cell.cell_type == "code":
                assert not cell.outputs, f"cell {i} has stored outputs (strip them)"
                assert cell.execution_count is None, f"cell {i} has an execution count"

    def test_structure(self, path):
        cells = self.nb(path).cells
        first = cells[0]
        assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), "starts with a title"
        markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
        assert re.search(r"\{admonition\}\s*Claim|\{note\}\s*Claim|:class: claim", markdown) or "**Claim" in markdown, \
            "needs a Claim admonition"
        assert re.search(r"Fidelity", markdown), "needs a Fidelity note"
        assert "{cite}" in markdown, "cites the paper with {cite}"
        check = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and re.search(r"^## Check\s*$", c.source, re.M)]
        assert len(check) == 1, "exactly one '## Check' section"
        code_after = [c for c in cells[check[0] + 1:] if c.cell_type == "code"]
        assert code_after, "the Check section has code"
        asserts = sum(len(re.findall(r"^\s*assert\b", c.source, re.M)) for c in code_after)
        assert asserts >= 2, "the Check section needs assertions that can fail"

    def test_imports_are_public_and_allowed(self, path):
        for cell in self.nb(path).cells:
            if cell.cell_type != "code":
                continue
            tree = ast.parse(cell.source)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [(a.name, None) for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [(node.module or "", [a.name for a in node.names])]
                else:
                    continue
                for module, imported in names:
                    top = module.split(".")[0]
                    assert top in ALLOWED_IMPORTS, f"notebooks import only {sorted(ALLOWED_IMPORTS)}, not {module}"
                    if top == "ntkbook":
                        assert not any(part.startswith("_") for part in module.split(".")), f"private module {module}"
                        if imported and module != "ntkbook":
                            mod = importlib.import_module(module)
                            public = set(getattr(mod, "__all__", []))
                            for name in imported:
                                assert name in public, f"{module}.{name} is not public (__all__)"
