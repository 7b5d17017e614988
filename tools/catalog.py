#!/usr/bin/env python3
"""The book's plan (``book/catalog.yml``) and the files generated from it.

Two commands, standard library + PyYAML only::

    python tools/catalog.py build --syllabus ../shared/syllabus   # syllabus -> book/catalog.yml
    python tools/catalog.py sync [--check]                        # catalog + notebooks -> _toc.yml, chapter pages

``build`` reads the syllabus (``README.md`` for the parts and chapters, ``<chapter>.md`` for the papers,
each under a ``### PNNN slug — Title`` heading) and writes the catalog: parts in syllabus order, their
chapters, and each chapter's papers in the order of its syllabus file.

``sync`` reads the catalog and the notebooks that exist (``notebooks/<chapter>/<pnnn>-<slug>.ipynb``) and
writes ``_toc.yml`` and the paper list of every chapter page ``book/<chapter>.md`` (only the part between
``<!-- papers:start -->`` and ``<!-- papers:end -->``; the prose around it is left alone).  With
``--check`` it writes nothing and exits 1, listing the files that are out of date.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "book" / "catalog.yml"
TOC = ROOT / "_toc.yml"
START, END = "<!-- papers:start -->", "<!-- papers:end -->"

# Human titles where the chapter id does not read well with its hyphens replaced by spaces.
CHAPTER_TITLES = {
    "infinite-width": "Infinite-width networks",
    "large-kernel-convnets": "Large-kernel convnets",
    "robustness-interpretability": "Robustness and interpretability",
    "activations-normalization": "Activations and normalization",
}

_PART = re.compile(r"^## (Part [IVXLC]+\..+?)\s*$")
_CHAPTER = re.compile(r"^- \*\*([a-z0-9-]+)\*\* \((\d+) papers?\):\s*(.*?)\s*$")
_PAPER = re.compile(r"^### (P\d{3}) ([a-z0-9-]+) — (.+?)\s*$")
_FIDELITY = re.compile(r"^- fidelity:\s*(full|scaled|proxy)\b")


# ----------------------------------------------------------------------------------------------- build
def chapter_title(chapter_id: str) -> str:
    """``"kernel-methods"`` -> ``"Kernel methods"`` (with a few hand-made exceptions)."""
    if chapter_id in CHAPTER_TITLES:
        return CHAPTER_TITLES[chapter_id]
    words = chapter_id.replace("-", " ")
    return words[:1].upper() + words[1:]


def _papers(path: Path) -> list[dict]:
    papers: list[dict] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _PAPER.match(line):
            papers.append({"id": m[1], "slug": m[2], "title": m[3], "fidelity_hint": None})
        elif (m := _FIDELITY.match(line)) and papers:
            if papers[-1]["fidelity_hint"] is not None:
                raise ValueError(f"{path}: {papers[-1]['id']} has two fidelity lines")
            papers[-1]["fidelity_hint"] = m[1]
    for paper in papers:
        if paper["fidelity_hint"] is None:
            raise ValueError(f"{path}: {paper['id']} has no '- fidelity: full|scaled|proxy' line")
    return papers


def build_catalog(syllabus: Path) -> dict:
    """The catalog as a dict, read from a syllabus folder."""
    readme = syllabus / "README.md"
    if not readme.is_file():
        raise FileNotFoundError(f"no syllabus README at {readme}")
    parts: list[dict] = []
    for line in readme.read_text(encoding="utf-8").splitlines():
        if m := _PART.match(line):
            parts.append({"caption": m[1], "chapters": []})
        elif m := _CHAPTER.match(line):
            if not parts:
                raise ValueError(f"{readme}: chapter {m[1]} listed before any part")
            chapter_id, count, summary = m[1], int(m[2]), m[3]
            papers = _papers(syllabus / f"{chapter_id}.md")
            if len(papers) != count:
                raise ValueError(f"{chapter_id}: README says {count} papers, its file has {len(papers)}")
            parts[-1]["chapters"].append(
                {"id": chapter_id, "title": chapter_title(chapter_id), "summary": summary, "papers": papers}
            )
    catalog = {"parts": parts}
    validate(catalog)
    return catalog


def validate(catalog: dict) -> None:
    """Raise ``ValueError`` unless ids and slugs are unique and well formed."""
    chapters = [c["id"] for p in catalog["parts"] for c in p["chapters"]]
    papers = [q for p in catalog["parts"] for c in p["chapters"] for q in c["papers"]]
    for what, values in (
        ("chapter id", chapters),
        ("paper id", [q["id"] for q in papers]),
        ("paper slug", [q["slug"] for q in papers]),
    ):
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise ValueError(f"duplicate {what}s: {', '.join(duplicates)}")
    for q in papers:
        if not re.fullmatch(r"P\d{3}", q["id"]) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", q["slug"]):
            raise ValueError(f"malformed paper id or slug: {q['id']} {q['slug']}")


def dump_catalog(catalog: dict) -> str:
    header = (
        "# The book's plan: parts, chapters and papers in reading order.\n"
        "# Generated by `python tools/catalog.py build --syllabus ../shared/syllabus`;\n"
        "# `python tools/catalog.py sync` turns it into _toc.yml and the chapter pages' paper lists.\n"
    )
    return header + yaml.safe_dump(catalog, sort_keys=False, allow_unicode=True, width=10_000)


def load_catalog(path: Path = CATALOG) -> dict:
    catalog = yaml.safe_load(path.read_text(encoding="utf-8"))
    validate(catalog)
    return catalog


# ------------------------------------------------------------------------------------------------ sync
def notebook_path(chapter: dict, paper: dict) -> str:
    """Path of a paper's notebook relative to the repository root, without the suffix."""
    return f"notebooks/{chapter['id']}/{paper['id'].lower()}-{paper['slug']}"


def written(catalog: dict, root: Path = ROOT) -> set[str]:
    """The catalog's notebooks that exist on disk (paths as in :func:`notebook_path`)."""
    return {
        notebook_path(c, q)
        for p in catalog["parts"]
        for c in p["chapters"]
        for q in c["papers"]
        if (root / (notebook_path(c, q) + ".ipynb")).is_file()
    }


def strays(catalog: dict, root: Path = ROOT) -> list[str]:
    """Notebooks on disk that the catalog does not know (wrong folder, number or slug)."""
    known = {notebook_path(c, q) for p in catalog["parts"] for c in p["chapters"] for q in c["papers"]}
    found = (str(nb.relative_to(root).with_suffix("")) for nb in (root / "notebooks").glob("**/*.ipynb"))
    return sorted(f + ".ipynb" for f in found if f not in known and ".ipynb_checkpoints" not in f)


def render_toc(catalog: dict, done: set[str]) -> str:
    q = json.dumps  # a JSON string is a valid double-quoted YAML scalar
    lines = [
        "# Generated by tools/catalog.py sync — edit book/catalog.yml or the notebooks, not this file.",
        "format: jb-book",
        "root: book/intro",
        "parts:",
        "  - caption: Start here",
        "    chapters:",
        "      - file: book/how-to-read",
        "      - file: book/notation",
    ]
    for part in catalog["parts"]:
        lines += [f"  - caption: {q(part['caption'], ensure_ascii=False)}", "    chapters:"]
        for chapter in part["chapters"]:
            lines.append(f"      - file: book/{chapter['id']}")
            sections = [notebook_path(chapter, p) for p in chapter["papers"] if notebook_path(chapter, p) in done]
            if sections:
                lines.append("        sections:")
                lines += [f"          - file: {s}" for s in sections]
    lines += ["  - caption: Back matter", "    chapters:", "      - file: book/bibliography"]
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    """Escape the characters Markdown would read as markup in a plain-text title."""
    return re.sub(r"([\\`*_\[\]<>$|~])", r"\\\1", text)


def render_paper_list(chapter: dict, done: set[str]) -> str:
    papers = chapter["papers"]
    n_done = sum(notebook_path(chapter, p) in done for p in papers)
    if n_done == len(papers):
        summary = f"All {len(papers)} notebooks written."
    elif n_done == 0:
        summary = f"0 of {len(papers)} notebooks written; all are marked as coming."
    else:
        summary = f"{n_done} of {len(papers)} notebooks written; the others are marked as coming."
    bullets = []
    for paper in papers:
        path = notebook_path(chapter, paper)
        if path in done:
            title = paper["title"].replace("`", "'")  # a backtick would end the role
            bullets.append(f"- **{paper['id']}** {{doc}}`{title} <../{path}>`")
        else:
            bullets.append(f"- **{paper['id']}** {_escape(paper['title'])} *(coming)*")
    return "\n".join([START, "", summary, "", *bullets, "", END])


def render_chapter_page(chapter: dict, done: set[str], current: str | None) -> str:
    """The chapter page with its paper list replaced (a stub page if there is none yet)."""
    block = render_paper_list(chapter, done)
    if current is None:
        return f"# {chapter['title']}\n\n{chapter['summary']}\n\n## Papers\n\n{block}\n"
    if current.count(START) != 1 or current.count(END) != 1 or current.index(START) > current.index(END):
        raise ValueError(f"book/{chapter['id']}.md must contain {START} ... {END} exactly once, in that order")
    head, rest = current.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + block + tail


def sync(check: bool = False, root: Path = ROOT) -> list[str]:
    """Bring ``_toc.yml`` and the chapter pages up to date; return the files that were (or are) stale."""
    catalog = load_catalog(root / "book" / "catalog.yml")
    unknown = strays(catalog, root)
    if unknown:
        raise ValueError(
            "notebooks not in book/catalog.yml (expected notebooks/<chapter>/<pnnn>-<slug>.ipynb):\n  "
            + "\n  ".join(unknown)
        )
    done = written(catalog, root)
    wanted = {root / "_toc.yml": render_toc(catalog, done)}
    for part in catalog["parts"]:
        for chapter in part["chapters"]:
            page = root / "book" / f"{chapter['id']}.md"
            current = page.read_text(encoding="utf-8") if page.is_file() else None
            wanted[page] = render_chapter_page(chapter, done, current)
    stale = []
    for path, text in wanted.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(str(path.relative_to(root)))
            if not check:
                path.write_text(text, encoding="utf-8")
    return stale


# ------------------------------------------------------------------------------------------------- cli
def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    return (ROOT / p).resolve()  # relative to the repository root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="syllabus -> book/catalog.yml")
    b.add_argument("--syllabus", default="../shared/syllabus", help="syllabus folder (default ../shared/syllabus, "
                   "relative paths are tried from the current folder, then from the repository root)")
    b.add_argument("--check", action="store_true", help="write nothing; exit 1 if book/catalog.yml is out of date")
    s = sub.add_parser("sync", help="book/catalog.yml + notebooks -> _toc.yml and chapter pages")
    s.add_argument("--check", action="store_true", help="write nothing; exit 1 listing the out-of-date files")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            catalog = build_catalog(_resolve(args.syllabus))
            text = dump_catalog(catalog)
            n = sum(len(c["papers"]) for p in catalog["parts"] for c in p["chapters"])
            stale = not CATALOG.is_file() or CATALOG.read_text(encoding="utf-8") != text
            if args.check:
                if stale:
                    print(f"out of date: {CATALOG.relative_to(ROOT)}", file=sys.stderr)
                return int(stale)
            if stale:
                CATALOG.write_text(text, encoding="utf-8")
            print(f"{CATALOG.relative_to(ROOT)}: {len(catalog['parts'])} parts, "
                  f"{sum(len(p['chapters']) for p in catalog['parts'])} chapters, {n} papers"
                  + ("" if stale else " (unchanged)"))
            return 0
        stale = sync(check=args.check)
    except (OSError, ValueError) as err:
        print(f"catalog.py: {err}", file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print("out of date (run `python tools/catalog.py sync`):\n  " + "\n  ".join(stale), file=sys.stderr)
        return int(bool(stale))
    print("updated: " + ", ".join(stale) if stale else "everything up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
