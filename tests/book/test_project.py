"""The project's promises about its own files: environment.yml ↔ pyproject, the README's commands, CI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    assert python == ["python=3.11"]
    requires = pyproject()["project"]["requires-python"]
    assert requires == ">=3.11", "update environment.yml's python pin together with requires-python"
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    extras = set(pyproject()["project"]["optional-dependencies"])
    assert pip == [f"-e .[{','.join(sorted(extras))}]"], "environment.yml must install every extra of pyproject"


def test_package_dependencies_are_the_bare_set():
    deps = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in pyproject()["project"]["dependencies"]}
    assert deps == {"jax", "flax", "optax", "numpy", "scipy", "matplotlib", "tqdm"}


def test_readme_states_the_two_commands_first_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    first_code = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    assert "make book" in first_code and "make test" in first_code
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\s*$", ci, re.M), ".ci/run must call the README's test command"


def test_makefile_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "book", "lab", "clean", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no '{target}' target"
