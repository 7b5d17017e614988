"""The book's plan (book/catalog.yml) and the files generated from it (_toc.yml, chapter paper lists)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SYLLABUS = ROOT.parent / "shared" / "syllabus"
SCRIPT = ROOT / "tools" / "catalog.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("ntkbook_catalog_tool", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


catalog_tool = _load_tool()


@pytest.fixture(scope="module")
def catalog() -> dict:
    return yaml.safe_load((ROOT / "book" / "catalog.yml").read_text(encoding="utf-8"))


def _chapters(catalog):
    return [c for p in catalog["parts"] for c in p["chapters"]]


def _papers(catalog):
    return [q for c in _chapters(catalog) for q in c["papers"]]


def test_catalog_shape(catalog):
    assert len(catalog["parts"]) == 7
    assert [p["caption"].split(".")[0] for p in catalog["parts"]] == [
        f"Part {r}" for r in ("I", "II", "III", "IV", "V", "VI", "VII")
    ]
    chapters = _chapters(catalog)
    assert len(chapters) == 17
    assert len({c["id"] for c in chapters}) == 17
    for chapter in chapters:
        assert chapter["title"] and chapter["title"][0].isupper()
        assert chapter["papers"], chapter["id"]


def test_catalog_papers(catalog):
    papers = _papers(catalog)
    ids = [q["id"] for q in papers]
    assert len(papers) == 169
    assert sorted(ids) == [f"P{i:03d}" for i in range(169)]
    slugs = [q["slug"] for q in papers]
    assert len(set(slugs)) == len(slugs)
    for q in papers:
        assert q["title"].strip(), q["id"]
        assert q["fidelity_hint"] in {"full", "scaled", "proxy"}, q["id"]
    catalog_tool.validate(catalog)  # the tool's own checks agree


@pytest.mark.skipif(not SYLLABUS.is_dir(), reason="../shared/syllabus is not beside the repository")
def test_catalog_matches_syllabus(catalog):
    assert catalog == catalog_tool.build_catalog(SYLLABUS)


def test_generated_files_up_to_date():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "sync", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_chapter_pages(catalog):
    for chapter in _chapters(catalog):
        page = ROOT / "book" / f"{chapter['id']}.md"
        assert page.is_file(), page
        text = page.read_text(encoding="utf-8")
        assert text.startswith(f"# {chapter['title']}\n"), page
        assert text.count(catalog_tool.START) == 1 and text.count(catalog_tool.END) == 1, page
        assert text.index(catalog_tool.START) < text.index(catalog_tool.END), page
        block = text.split(catalog_tool.START)[1].split(catalog_tool.END)[0]
        # every paper of the chapter is listed once, in catalog order
        positions = [block.index(f"**{q['id']}**") for q in chapter["papers"]]
        assert positions == sorted(positions), page
        assert block.count("- **P") == len(chapter["papers"]), page
        # the prose outside the paper list is real prose, not just a heading
        prose = text.split("## Papers")[0]
        assert len(prose.split()) > 150, f"{page} has too little prose"


def _toc_files(node) -> list[str]:
    files = []
    if isinstance(node, dict):
        if "file" in node:
            files.append(node["file"])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                files += _toc_files(child)
    return files


def test_toc(catalog):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["format"] == "jb-book"
    assert toc["root"] == "book/intro"
    files = _toc_files(toc)
    assert len(files) == len(set(files))
    for chapter in _chapters(catalog):
        assert f"book/{chapter['id']}" in files
    for name in ("how-to-read", "notation", "bibliography"):
        assert f"book/{name}" in files
    captions = [p["caption"] for p in toc["parts"]]
    assert captions[1:-1] == [p["caption"] for p in catalog["parts"]]
    for f in [toc["root"], *files]:
        assert (ROOT / f"{f}.md").is_file() or (ROOT / f"{f}.ipynb").is_file(), f


def test_sync_lists_written_notebooks(tmp_path, catalog):
    """A notebook on disk becomes a toc section and a link in its chapter page; prose is kept."""
    (tmp_path / "book").mkdir()
    for page in (ROOT / "book").glob("*.md"):
        (tmp_path / "book" / page.name).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "book" / "catalog.yml").write_text(
        (ROOT / "book" / "catalog.yml").read_text(encoding="utf-8"), encoding="utf-8")
    # a paper whose notebook is not written in the real repository (in the first chapter that has one),
    # so its chapter page must change
    chapter, paper = next((c, p) for c in _chapters(catalog) for p in c["papers"]
                          if not (ROOT / (catalog_tool.notebook_path(c, p) + ".ipynb")).exists())
    nb = tmp_path / (catalog_tool.notebook_path(chapter, paper) + ".ipynb")
    nb.parent.mkdir(parents=True)
    nb.write_text("{}", encoding="utf-8")
    page = tmp_path / "book" / f"{chapter['id']}.md"
    prose_before = page.read_text(encoding="utf-8").split(catalog_tool.START)[0]

    stale = catalog_tool.sync(root=tmp_path)
    assert "_toc.yml" in stale and f"book/{chapter['id']}.md" in stale
    assert catalog_tool.sync(check=True, root=tmp_path) == []

    toc = yaml.safe_load((tmp_path / "_toc.yml").read_text(encoding="utf-8"))
    entry = next(c for p in toc["parts"] for c in p["chapters"] if c["file"] == f"book/{chapter['id']}")
    assert entry["sections"] == [{"file": catalog_tool.notebook_path(chapter, paper)}]
    text = page.read_text(encoding="utf-8")
    assert text.split(catalog_tool.START)[0] == prose_before
    assert f"{{doc}}`{paper['title']} <../{catalog_tool.notebook_path(chapter, paper)}>`" in text
    assert f"1 of {len(chapter['papers'])} notebooks written" in text

    (nb.parent / "p999-not-in-the-catalog.ipynb").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="not in book/catalog.yml"):
        catalog_tool.sync(check=True, root=tmp_path)
