"""The wheel built from the checkout installs and runs on its own, outside the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support.paths import ROOT


def _run(argv: list, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _base_python() -> str:
    """The interpreter the test venv was made from (a venv inside a venv would do too, but
    this keeps the new venv free of anything the test venv has installed)."""
    base = getattr(sys, "_base_executable", None)
    if base and Path(base).exists():
        return base
    for name in (f"python{sys.version_info[0]}.{sys.version_info[1]}", "python3"):
        candidate = Path(sys.base_prefix) / "bin" / name
        if candidate.exists():
            return str(candidate)
    return sys.executable


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.update(extra)
    return env


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
         "-w", dist, ROOT],
        cwd=tmp_path, env=_clean_env(),
    )
    wheels = list(dist.glob("cgraph-*.whl"))
    assert len(wheels) == 1, wheels
    wheel = wheels[0]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "cgraph/grammar/cgraph.lark" in names
    assert "cgraph/cli/__init__.py" in names
    assert {"cgraph/views/page/page.js", "cgraph/views/page/page.css"} <= names  # the interactive page's script and style

    venv = tmp_path / "venv"
    _run([_base_python(), "-m", "venv", venv], cwd=tmp_path, env=_clean_env())
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    env = _clean_env(VIRTUAL_ENV=str(venv), PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
                     XDG_CACHE_HOME=str(tmp_path / "cache"))
    _run([python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", wheel], cwd=tmp_path, env=env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    for sample in ("intro.cg", "linreg.cg", "linreg.csv"):
        shutil.copy(ROOT / "samples" / sample, work / sample)

    where = _run([python, "-c", "import cgraph; print(cgraph.__file__)"], cwd=work, env=env).stdout.strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), f"cgraph imported from {where}, not the fresh venv"
    assert not Path(where).resolve().is_relative_to(ROOT.resolve())

    cgraph = bindir / "cgraph"
    assert cgraph.exists()
    proc = _run([cgraph, "eval", "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "--format", "json"], cwd=work, env=env)
    data = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"not RFC 8259 JSON: {c}"))
    assert data["output"] == "g"
    assert data["value"] == -12
    assert data["inputs"] == {"x": 1, "y": 3, "z": -3}
    assert data["gradients"] == {"x": -3, "y": -3, "z": 4}
    assert {n["name"]: n["grad"] for n in data["nodes"]}["p"] == -3
    assert "Traceback" not in proc.stderr
    _run([cgraph, "render", "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "-o", "intro.html"], cwd=work, env=env)
    assert "window.cgraph = Object.freeze" in (work / "intro.html").read_text(encoding="utf-8")

    # NumPy comes with cgraph: batches and training work from a plain `pip install`.
    rows = _run([cgraph, "eval", "linreg.cg", "--data", "linreg.csv", "--w", "3", "--b", "-1.5"], cwd=work, env=env)
    lines = rows.stdout.splitlines()
    assert lines[0] == "line,loss,dloss/dw,dloss/db,dloss/dx,dloss/dy" and len(lines) == 201
    trained = _run([cgraph, "train", "linreg.cg", "--data", "linreg.csv", "--lr", "0.5", "--epochs", "200",
                    "--save", "fit.json"], cwd=work, env=env)
    assert "Traceback" not in trained.stderr
    params = json.loads((work / "fit.json").read_text())["params"]
    assert abs(params["w"] - 3) < 0.05 and abs(params["b"] + 1.5) < 0.05
