"""pytest plugin: keep what nbval executes, so the site build can reuse it instead of running again.

Load with ``-p tools.nbcapture --nb-save-executed DIR`` next to ``--nbval-lax``. When every cell of a
notebook has passed, the notebook is written to ``DIR/<path relative to the rootdir>`` with the outputs
nbval collected, plus ``<name>.time.json`` holding its wall time. ``tools/bookexec.py import-cache``
then files these executed notebooks into the jupyter-cache that the fast site build reads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest


def pytest_addoption(parser):
    parser.addoption("--nb-save-executed", default=None, metavar="DIR",
                     help="write notebooks executed by nbval (all cells passed) below DIR")


class _Capture:
    def __init__(self, out: Path, root: Path):
        self.out, self.root = out, root
        self.failed: set[str] = set()
        self.started: dict[str, float] = {}
        self.counter: dict[str, int] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        if not hasattr(item, "test_outputs") or not hasattr(item, "cell"):
            return
        report = outcome.get_result()
        path = str(item.parent.path)
        self.started.setdefault(path, time.perf_counter())
        if report.failed:
            self.failed.add(path)
        if call.when == "call" and item.test_outputs is not None:
            self.counter[path] = self.counter.get(path, 0) + 1
            outputs = []
            for out in item.test_outputs:
                out = nbformat.from_dict(dict(out))
                if out.output_type == "execute_result":
                    out.execution_count = self.counter[path]
                outputs.append(out)
            item.cell.outputs = outputs
            item.cell.execution_count = self.counter[path]

    def pytest_runtest_teardown(self, item, nextitem):
        if not hasattr(item, "test_outputs"):
            return
        if nextitem is not None and nextitem.parent is item.parent:
            return
        path = str(item.parent.path)
        if path in self.failed:
            return
        rel = Path(path).resolve().relative_to(self.root)
        dest = self.out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        nb = item.parent.nb
        nbformat.write(nb, dest)
        seconds = time.perf_counter() - self.started.get(path, time.perf_counter())
        dest.with_suffix(".time.json").write_text(json.dumps({"notebook": str(rel), "seconds": seconds}))


def pytest_configure(config):
    out = config.getoption("--nb-save-executed")
    if out:
        config.pluginmanager.register(_Capture(Path(out).resolve(), Path(config.rootpath).resolve()), "nbcapture")
