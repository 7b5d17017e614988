"""Benchmark suites: ``python -m ntkbook.bench SUITE [--quick] [--out DIR]``.

Each suite measures implementations against a baseline **in the same run** and returns rows; the runner
prints a table and appends a JSON record (device, date, versions, command, rows) to
``benchmarks/results/<device>-<date>.json``. Timings are medians of repeated runs after warm-up, with the
device synchronised (``jax.block_until_ready``) around every call.

>>> from ntkbook.bench import time_fn
>>> import jax.numpy as jnp
>>> t = time_fn(lambda: jnp.ones(3) * 2, repeats=3)
>>> t.median > 0
True
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax

__all__ = ["Timing", "time_fn", "peak_memory_bytes", "device_info", "Row", "write_record", "format_table",
           "SUITES", "RESULTS_DIR", "load_records", "recorded_table"]

#: suite name → module under ntkbook.bench that defines ``run(quick: bool) -> list[Row]``
SUITES = {"kernels": "ntkbook.bench.kernels", "attention": "ntkbook.bench.attention",
          "learn": "ntkbook.bench.learn"}


#: where ``write_record`` keeps the records of a source checkout (absent from an installed wheel)
RESULTS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"

#: JAX platform names that count as a GPU
_GPU_PLATFORMS = ("gpu", "cuda", "rocm")


@dataclasses.dataclass(frozen=True)
class Timing:
    median: float  # seconds
    best: float
    repeats: int


def time_fn(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, max_seconds: float = 30.0,
            clock: str = "wall") -> Timing:
    """Median wall time of ``fn()`` (blocked until its results are ready), after ``warmup`` calls.

    Stops early (with at least one timed call) once ``max_seconds`` of timing have been spent.
    ``clock="process"`` measures the CPU time of this process (all its threads) instead of wall time:
    on a machine shared with other jobs it is far less disturbed by their load.

    >>> time_fn(lambda: 1 + 1, repeats=2).repeats
    2
    """
    if repeats <= 0 or warmup < 0:
        raise ValueError(f"repeats must be positive and warmup non-negative, got {repeats}, {warmup}")
    if clock not in ("wall", "process"):
        raise ValueError(f"clock must be 'wall' or 'process', got {clock!r}")
    now = time.perf_counter if clock == "wall" else time.process_time
    for _ in range(warmup):
        jax.block_until_ready(fn())
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(repeats):
        t0 = now()
        jax.block_until_ready(fn())
        times.append(now() - t0)
        if time.perf_counter() - start > max_seconds:
            break
    return Timing(statistics.median(times), min(times), len(times))


def peak_memory_bytes(jitted: Callable, *args: Any) -> int | None:
    """Peak device memory XLA plans for one call of a ``jax.jit``-ed function (arguments + outputs + temporaries).

    Read from the compiled executable's memory analysis, so it is exact for the plan and needs no GPU
    counters; ``None`` when the backend does not report it.

    >>> import jax.numpy as jnp
    >>> peak_memory_bytes(jax.jit(lambda x: x + 1), jnp.ones(256, jnp.float32)) >= 2 * 256 * 4
    True
    """
    try:
        analysis = jitted.lower(*args).compile().memory_analysis()
    except Exception:  # pragma: no cover - backend without memory analysis
        return None
    if analysis is None:
        return None
    fields = ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes")
    return int(sum(getattr(analysis, f, 0) or 0 for f in fields))


def device_info() -> dict[str, Any]:
    """The first JAX device: platform, kind, device count, host and CPU.

    >>> device_info()["platform"] in ("cpu", "gpu", "cuda", "rocm", "tpu")
    True
    """
    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    return {"platform": dev.platform, "device_kind": kind, "device_count": jax.device_count(),
            "host": platform.node(), "cpu": platform.processor() or platform.machine()}


@dataclasses.dataclass
class Row:
    """One measurement: what was run, its median time, a throughput and ratios to baselines of the same run."""

    suite: str
    case: str
    implementation: str
    shape: str
    seconds: float | None
    throughput: float | None = None
    unit: str = ""
    peak_bytes: int | None = None
    ratio_to_baseline: float | None = None
    note: str = ""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "device"


def write_record(suite: str, rows: list[Row], out_dir: Path | str = "benchmarks/results") -> Path:
    """Append one run (device, date, versions, command, rows) to ``<out_dir>/<device>-<date>.json``.

    >>> import tempfile
    >>> path = write_record("demo", [Row("demo", "case", "impl", "N=1", 1e-3)], tempfile.mkdtemp())
    >>> path.suffix
    '.json'
    """
    info = device_info()
    today = _dt.date.today().isoformat()
    path = Path(out_dir) / f"{_slug(info['device_kind'])}-{today}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    from ntkbook import __version__

    record = {
        "suite": suite,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": info,
        "versions": {"jax": jax.__version__, "jaxlib": getattr(jax.lib, "__version__", None) or _jaxlib_version(),
                     "ntkbook": __version__, "python": platform.python_version()},
        "command": " ".join(["python", "-m", "ntkbook.bench", *sys.argv[1:]]),
        "rows": [dataclasses.asdict(r) for r in rows],
    }
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(record)
    path.write_text(json.dumps(runs, indent=1))
    return path


def _jaxlib_version() -> str | None:
    try:
        import jaxlib

        return jaxlib.__version__
    except Exception:  # pragma: no cover
        return None


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}g}"


def format_table(rows: list[Row]) -> str:
    """A plain-text table of rows (time in ms, throughput, peak memory in MiB, ratio to the baseline).

    >>> print(format_table([Row("s", "case", "impl", "N=1", 0.002)]).splitlines()[1])
    case  impl            N=1    2     —           —         —
    """
    header = ("case", "implementation", "shape", "time ms", "throughput", "peak MiB", "× baseline", "note")
    lines = [header]
    for r in rows:
        lines.append((r.case, r.implementation, r.shape,
                      _fmt(None if r.seconds is None else r.seconds * 1e3),
                      "—" if r.throughput is None else f"{r.throughput:.3g} {r.unit}",
                      _fmt(None if r.peak_bytes is None else r.peak_bytes / 2**20),
                      _fmt(r.ratio_to_baseline), r.note))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def load_records(suite: str | None = None, *, platform: str | None = None,
                 results_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """Every stored benchmark run (the records ``write_record`` appends), oldest first.

    Parameters
    ----------
    suite : str, optional
        Keep the runs of this suite only.
    platform : str, optional
        Keep the runs on this JAX platform; ``"gpu"`` also matches ``"cuda"`` and ``"rocm"``.
    results_dir : path, optional
        Default :data:`RESULTS_DIR` (``benchmarks/results`` of the source checkout). A missing
        directory gives no records.

    Every record gets a ``"file"`` entry with the name of the JSON file it came from.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = write_record("demo", [Row("demo", "case", "impl", "N=1", 1e-3)], d)
    >>> [r["suite"] for r in load_records("demo", results_dir=d)], load_records("demo", platform="tpu", results_dir=d)
    (['demo'], [])
    """
    root = RESULTS_DIR if results_dir is None else Path(results_dir)
    if not root.is_dir():
        return []
    wanted = None if platform is None else (_GPU_PLATFORMS if platform in _GPU_PLATFORMS else (platform,))
    records = []
    for path in sorted(root.glob("*.json")):
        for rec in json.loads(path.read_text()):
            if suite is not None and rec.get("suite") != suite:
                continue
            if wanted is not None and rec.get("device", {}).get("platform") not in wanted:
                continue
            records.append({**rec, "file": path.name})
    return sorted(records, key=lambda r: r.get("date", ""))


def recorded_table(suite: str, cases: list[str] | tuple[str, ...] | None = None, *, platform: str = "gpu",
                   results_dir: Path | str | None = None) -> str:
    """The newest stored run of ``suite`` on ``platform`` as text: device, date, versions and command,
    then the table of its rows whose case starts with one of ``cases`` — or a sentence saying that
    no such run is stored. This is how the notebooks show recorded GPU benchmarks.

    >>> import tempfile
    >>> print(recorded_table("attention", results_dir=tempfile.mkdtemp()))
    No gpu run of the 'attention' benchmark suite is stored in benchmarks/results/.
    """
    records = load_records(suite, platform=platform, results_dir=results_dir)
    if not records:
        return f"No {platform} run of the '{suite}' benchmark suite is stored in benchmarks/results/."
    rec = records[-1]
    rows = [Row(**{k: v for k, v in r.items() if k in Row.__dataclass_fields__}) for r in rec["rows"]]
    if cases:
        rows = [r for r in rows if r.case.startswith(tuple(cases))]
    dev, ver = rec.get("device", {}), rec.get("versions", {})
    head = (f"'{suite}' suite on {dev.get('device_kind', '?')} ({dev.get('platform', '?')}), {rec.get('date', '?')}, "
            f"jax {ver.get('jax', '?')}, ntkbook {ver.get('ntkbook', '?')} — {rec.get('file', '')}\n"
            f"command: {rec.get('command', '?')}")
    if not rows:
        return head + "\n(no rows for the cases " + ", ".join(cases or []) + ")"
    return head + "\n" + format_table(rows)
