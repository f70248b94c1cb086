"""The GitHub Actions workflows: their shape, then their own `run:` steps executed for real.

Each workflow job is played step by step against a clone whose remote is a bare repository on
local disk: `uses:` steps are skipped except `actions/checkout`, which is emulated by cloning;
`Install ...` steps are skipped (the test's venv has dixit); `${{ ... }}` expressions are filled
from a small context of event, secrets and variables, exactly where GitHub would fill them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from dixit.league import workflows
from tests.conftest import EXAMPLES, League, Runner, git, make_league, propose_small, scoped_env

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "dixit" / "league" / "templates" / "github" / "workflows"
NAMES = ("validate.yml", "close-round.yml", "publish.yml")
PROGRAMS = EXAMPLES / "programs"
BIN = Path(sys.executable).parent


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((TEMPLATES / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


# -- shape ----------------------------------------------------------------------------------------


def test_workflows_ship_as_package_data_and_in_this_repository() -> None:
    files = workflows.workflow_files()
    assert sorted(files) == [f".github/workflows/{n}" for n in sorted(NAMES)]
    for name in NAMES:
        assert files[f".github/workflows/{name}"] == (ROOT / ".github/workflows" / name
                                                      ).read_bytes(), name


def test_init_writes_the_workflows(tmp_path: Path, dixit: Runner) -> None:
    dixit.ok("init", tmp_path / "t", "--name", "T")
    for path, data in workflows.workflow_files().items():
        assert (tmp_path / "t" / path).read_bytes() == data
    assert git(tmp_path / "t", "status", "--porcelain") == ""


def test_validate_runs_on_pull_requests_read_only_and_runs_no_team_code() -> None:
    wf = load("validate.yml")
    assert set(wf["on"]) == {"pull_request"}
    assert sorted(wf["on"]["pull_request"]["paths"]) == ["rounds/**", "teams/**"]
    assert wf["permissions"] == {"contents": "read"}
    text = (TEMPLATES / "validate.yml").read_text()
    assert "pull_request_target" not in re.sub(r"#.*", "", text)
    steps = wf["jobs"]["validate"]["steps"]
    checkouts = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout")]
    assert [c["with"]["path"] for c in checkouts] == ["pr", "engine"]
    assert checkouts[1]["with"]["ref"] == "${{ github.base_ref }}"
    assert all(c["with"]["persist-credentials"] is False for c in checkouts)
    for step in steps:
        script = step.get("run", "")
        # Only the base branch's engine is installed; the pull request is read as data.
        assert ("pr/" not in script.replace("-C pr", "") and "pip install" not in script) \
            or step["name"].startswith("Install")
        assert "${{" not in script  # expressions only in env:, never spliced into shell
    assert "dixit -C pr validate --base" in steps[-1]["run"]


def _credentials(step: dict[str, Any]) -> set[str]:
    """The secrets and tokens a step is given (``secrets.X`` and ``github.token``)."""
    return set(re.findall(r"\b(secrets\.\w+|github\.token)\b", yaml.safe_dump(step)))


def _action(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0]


def test_close_round_is_scheduled_serialized_and_writes_with_the_closer_secret() -> None:
    wf = load("close-round.yml")
    assert wf["on"]["schedule"] == [{"cron": "*/15 * * * *"}] and "workflow_dispatch" in wf["on"]
    assert wf["permissions"] == {}  # each job asks for its own
    assert wf["concurrency"]["cancel-in-progress"] is False
    close = wf["jobs"]["close"]
    assert close["permissions"] == {"contents": "write"}
    checkout = close["steps"][0]
    assert _action(checkout) == "actions/checkout"
    assert checkout["with"]["persist-credentials"] is False and "ssh-key" not in checkout["with"]
    step = next(s for s in close["steps"] if s.get("id") == "close")
    assert step["env"]["DIXIT_CLOSER_KEY"] == "${{ secrets.DIXIT_CLOSER_KEY }}"
    assert "dixit score --due --json" in step["run"]
    # Only the step that pushes is given credentials: the closer's key, the deploy key, the token.
    assert _credentials(step) == {"secrets.DIXIT_CLOSER_KEY", "secrets.DIXIT_DEPLOY_KEY",
                                  "github.token"}
    assert all(not _credentials(s) for s in close["steps"] if s is not step)
    publish = wf["jobs"]["publish"]
    assert publish["uses"] == "./.github/workflows/publish.yml"
    assert publish["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert "# Sharding" in (TEMPLATES / "close-round.yml").read_text()


def test_publish_builds_the_site_and_deploys_pages() -> None:
    wf = load("publish.yml")
    assert wf["on"]["push"]["tags"] == ["round-*-closed"]
    assert {"workflow_dispatch", "workflow_call"} <= set(wf["on"])
    assert wf["permissions"] == {}
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    assert build["permissions"] == {"contents": "read"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    # close-round.yml calls this workflow granting at least what its jobs ask for
    granted = load("close-round.yml")["jobs"]["publish"]["permissions"]
    assert {**build["permissions"], **deploy["permissions"]}.items() <= granted.items()
    assert build["steps"][0]["with"]["persist-credentials"] is False
    assert "actions/upload-pages-artifact" in [_action(s) for s in build["steps"]]
    site = next(s for s in build["steps"] if "dixit report -o site" in s.get("run", ""))
    assert _credentials(site) == {"github.token"}  # read-only, for dixit report's fetch
    assert all(not _credentials(s) for s in build["steps"] if s is not site)
    assert _action(deploy["steps"][0]) == "actions/deploy-pages"
    assert deploy["environment"]["name"] == "github-pages"


_USES = re.compile(r"^[\s#-]*uses:\s*(\S+)(.*)$")
_PINNED = re.compile(r"^([\w.-]+/[\w.-]+)@([0-9a-f]{40})$")


def test_every_action_is_pinned_to_a_commit_named_by_its_release() -> None:
    """Every remote action, in the sketch in comments too, is pinned to a full commit hash with
    the release it is written beside (`# v4.4.0`), and to the same one wherever it is used."""
    pins: dict[str, set[tuple[str, str]]] = {}
    for name in NAMES:
        for line in (TEMPLATES / name).read_text().splitlines():
            m = _USES.match(line)
            if not m or m.group(1).startswith("./"):
                continue
            pin, version = _PINNED.match(m.group(1)), re.fullmatch(r"\s+# (v\d+\.\d+\.\d+)",
                                                                    m.group(2))
            assert pin and version, f"{name}: {line.strip()}"
            pins.setdefault(pin.group(1), set()).add((pin.group(2), version.group(1)))
    assert {"actions/checkout", "actions/setup-python", "actions/upload-pages-artifact",
            "actions/deploy-pages"} <= set(pins)
    assert all(len(p) == 1 for p in pins.values()), pins


# -- a job runner ---------------------------------------------------------------------------------


@dataclass
class Job:
    """Plays one workflow job's steps against ``bare`` like a GitHub runner would."""

    bare: Path
    work: Path
    context: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    remote: str | None = None  # origin's URL after a checkout, as on GitHub (default: the bare)

    def expr(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            for alt in m.group(1).split("||"):
                value: Any = self.context
                for part in alt.strip().split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if value:
                    return str(value)
            return ""

        return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", one, str(text))

    def checkout(self, spec: dict[str, Any]) -> None:
        target = self.work / self.expr(spec.get("path", ""))
        if target == self.work:
            target.rmdir()
        subprocess.run(["git", "clone", "-q", str(self.bare), str(target)], check=True)
        ref = self.expr(spec.get("ref", "")) or self.context["github"]["ref_name"]
        if ref.startswith("pull/"):  # a pull request: a detached HEAD, as on GitHub
            git(target, "checkout", "-q", "--detach", f"origin/{ref.removeprefix('pull/')}")
        else:
            git(target, "checkout", "-q", "-B", ref, f"origin/{ref}")
        if self.remote:
            git(target, "remote", "set-url", "origin", self.remote)

    def run(self, job: dict[str, Any]) -> list[subprocess.CompletedProcess[str]]:
        self.work.mkdir(parents=True)
        temp, output = self.work.parent / "runner-temp", self.work.parent / "github-output"
        temp.mkdir(exist_ok=True)
        output.write_text("")
        done = []
        for step in job["steps"]:
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout"):
                self.checkout(step.get("with", {}))
                continue
            if uses or step.get("name", "").startswith("Install"):
                continue  # setup-python, artifacts, pages; the venv already has dixit
            env = {**self.env, "GITHUB_WORKSPACE": str(self.work), "RUNNER_TEMP": str(temp),
                   "GITHUB_OUTPUT": str(output), "CI": "true",
                   **{k: self.expr(v) for k, v in step.get("env", {}).items()}}
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                                   step["run"]], cwd=self.work, env=env, text=True,
                                  capture_output=True, timeout=300)
            self.ran.append(step.get("name", step["run"][:30]))
            done.append(proc)
            if proc.returncode:
                break
        return done

    @property
    def outputs(self) -> dict[str, str]:
        text = (self.work.parent / "github-output").read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def runner_env(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "DIXIT_HOME": str(home / "no-keys"), "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1", "PYTHONPATH": str(ROOT), **extra}


# -- one league for the module: a round past proposing, with pull requests waiting -----------------


@dataclass
class World:
    league: League
    keys: Path
    closer_key: str
    base: Path


def _fork(world_base: Path, bare: Path, name: str) -> Path:
    """A team's clone without a remote: its dixit commits stay local, to be offered as a PR."""
    path = world_base / name
    subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True)
    git(path, "remote", "remove", "origin")
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> Iterator[World]:
    base = tmp_path_factory.mktemp("wf")
    with scoped_env(base):
        league = make_league(base, dixit)
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        for team in ("alice", "bob", "carol"):
            propose_small(league, dixit, team, steps=20)
        for solver, target, prog in [("carol", "alice", "carol_for_alice"),
                                     ("alice", "bob", "alice_for_bob"),
                                     ("carol", "bob", "carol_for_bob"),
                                     ("bob", "carol", "bob_for_carol")]:
            dixit.ok("-C", league.clone(solver), "submit", "--team", solver, "--challenge",
                     target, PROGRAMS / f"{prog}.py")
        # Pull requests, pushed to the shared remote as branches pr-*.
        good = _fork(base, league.bare, "fork-good")
        dixit.ok("-C", good, "submit", "--team", "bob", "--challenge", "alice",
                 PROGRAMS / "bob_for_alice.py")
        git(good, "push", "-q", str(league.bare), "main:refs/heads/pr-good")
        forged = _fork(base, league.bare, "fork-forged")
        entry = "rounds/001/submissions"
        for ext in ("toml", "escrow"):  # bob's signed entry, presented as carol's
            (forged / entry / "carol").mkdir(exist_ok=True)
            shutil.copy(good / entry / f"bob/alice.{ext}", forged / entry / f"carol/alice.{ext}")
        git(forged, "add", "-A")
        git(forged, "commit", "-qm", "resubmit: carol -> alice")
        git(forged, "push", "-q", str(league.bare), "main:refs/heads/pr-forged")
        misplaced = _fork(base, league.bare, "fork-misplaced")
        dixit.ok("-C", misplaced, "submit", "--team", "bob", "--challenge", "alice",
                 PROGRAMS / "bob_for_alice.py")
        (misplaced / "scoring/rules.toml").write_text("[solve]\nthreshold = 0.5\n")
        (misplaced / "rounds/001/challenges/alice/notes.txt").write_text("hi")
        git(misplaced, "add", "-A")
        git(misplaced, "commit", "-qm", "easier rules")
        git(misplaced, "push", "-q", str(league.bare), "main:refs/heads/pr-misplaced")
        tid = next(p.name for p in (base / "keys").iterdir())
        closer = (base / "keys" / tid / "closer.key").read_text().strip()
        yield World(league, base / "keys", closer, base)


def _copy_bare(world: World, dest: Path) -> Path:
    return Path(shutil.copytree(world.league.bare, dest))


def _validate(world: World, tmp: Path, pr: str, **env: str
              ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    job = Job(world.league.bare, tmp / "ws", {
        "github": {"base_ref": "main", "ref_name": f"pull/{pr}",
                   "event": {"pull_request": {"number": 7}}}, "secrets": {}, "vars": {}},
        env=runner_env(tmp / "home", **env))
    procs = job.run(load("validate.yml")["jobs"]["validate"])
    assert job.ran == ["Validate the entries of the pull request"]
    assert not (tmp / "ws" / "engine" / "dixit" / "__pycache__").exists()  # nothing imported
    return procs[-1], json.loads(procs[-1].stdout)


def test_validate_accepts_a_good_entry(world: World, tmp_path: Path) -> None:
    proc, rep = _validate(world, tmp_path, "pr-good")
    assert proc.returncode == 0, proc.stderr
    assert rep["ok"] and rep["commits"] == 1
    assert {e["path"] for e in rep["entries"]} == {"rounds/001/submissions/bob/alice.toml",
                                                   "rounds/001/submissions/bob/alice.escrow"}


def test_validate_rejects_a_forged_entry(world: World, tmp_path: Path) -> None:
    proc, rep = _validate(world, tmp_path, "pr-forged")
    assert proc.returncode == 1
    assert any("submissions/carol/alice.toml" in p and "forged" in p for p in rep["problems"])
    assert "✗" in proc.stderr and "Traceback" not in proc.stderr


def test_validate_rejects_a_late_entry_by_the_runners_clock(world: World, tmp_path: Path) -> None:
    proc, rep = _validate(world, tmp_path, "pr-good", DIXIT_NOW="+3h")
    assert proc.returncode == 1
    assert rep["problems"] == [
        f"rounds/001/submissions/bob/alice.toml: too late: submitting in round 1 closed at "
        f"{p.split('closed at ')[1]}" for p in rep["problems"]]
    assert len(rep["problems"]) == 1  # the escrow of a refused entry adds no second line


def test_validate_rejects_files_out_of_place(world: World, tmp_path: Path) -> None:
    proc, rep = _validate(world, tmp_path, "pr-misplaced")
    assert proc.returncode == 1
    text = "\n".join(rep["problems"])
    assert "scoring/rules.toml: not a ledger entry path" in text
    assert "rounds/001/challenges/alice/notes.txt: not a ledger entry path" in text
    assert len(rep["problems"]) == 2  # bob's own entry in the same PR is fine


def test_validate_rejects_a_file_added_then_removed_by_a_later_commit(
        world: World, tmp_path: Path) -> None:
    fork = _fork(tmp_path, world.league.bare, "fork")
    (fork / "payload.bin").write_bytes(b"x" * 100)
    git(fork, "add", "-A")
    git(fork, "commit", "-qm", "stash a file in history")
    git(fork, "rm", "-q", "payload.bin")
    git(fork, "commit", "-qm", "and hide it")
    git(fork, "push", "-q", str(world.league.bare), "main:refs/heads/pr-history")
    proc, rep = _validate(world, tmp_path, "pr-history")
    assert proc.returncode == 1 and rep["commits"] == 2
    assert rep["problems"][0].startswith("payload.bin: not a ledger entry path (commit ")


@pytest.mark.parametrize(("path", "status", "owner"), [
    ("teams/zed.toml", "A", "organizer"),
    ("rounds/002/round.toml", "A", "organizer"),
    ("rounds/001/challenges/bob/model.safetensors", "A", "bob"),
    ("rounds/001/reveals/bob/alice.py", "A", "bob"),
    ("rounds/001/results.toml", "A", "closer"),
])
def test_entry_paths_are_classified(path: str, status: str, owner: str) -> None:
    from dixit.league import validate

    place = validate.classify(path)
    assert place is not None and place.signer == owner
    for bad in ("rounds/001/notes.md", "tournament.toml", ".github/workflows/x.yml",
                "rounds/1/round.toml", "teams/Bob.toml"):
        assert validate.classify(bad) is None, bad


# -- close-round ----------------------------------------------------------------------------------


def _close(world: World, tmp: Path, bare: Path, *, deploy_key: str = ""
           ) -> tuple[Job, list[subprocess.CompletedProcess[str]]]:
    """Run the job `close` when the round is due (+3h); with ``deploy_key``, as on GitHub: origin
    is the repository's https URL, and `ssh` (see _fake_ssh) serves it from ``bare``."""
    secrets = {"DIXIT_CLOSER_KEY": world.closer_key}
    env = runner_env(tmp / "home", DIXIT_NOW="+3h")
    if deploy_key:
        secrets["DIXIT_DEPLOY_KEY"] = deploy_key
        env.update(_fake_ssh(tmp / "bin", bare, tmp / "ssh.log"))
    job = Job(bare, tmp / "ws", {"github": {"ref_name": "main"}, "secrets": secrets,
                                 "vars": {"DIXIT_SCORE_FLAGS": ""}},
              env=env, remote=GITHUB_URL if deploy_key else None)
    return job, job.run(load("close-round.yml")["jobs"]["close"])


GITHUB_URL = "https://github.com/OWNER/REPO"  # origin, as actions/checkout leaves it
DEPLOY_KEY = "a deploy key, not a real one\nof two lines"  # the secret DIXIT_DEPLOY_KEY


def _fake_ssh(bin_dir: Path, bare: Path, log: Path) -> dict[str, str]:
    """An `ssh` first on PATH: for `ssh [options] HOST "git-upload-pack 'OWNER/REPO'"`, as git
    runs it, it logs the host, the repository, the options and the key and known-hosts files
    it was given, then runs that git service on ``bare``. Returns the environment to add."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    ssh = bin_dir / "ssh"
    ssh.write_text(f"""#!{sys.executable}
import json, os, shlex, sys
args, opts, key, mode = sys.argv[1:-2], {{}}, None, None
for flag, value in zip(args, args[1:]):
    if flag == "-i":
        key, mode = open(value).read(), os.stat(value).st_mode & 0o777
    elif flag == "-o":
        opts[value.partition("=")[0]] = value.partition("=")[2]
verb, repo = shlex.split(sys.argv[-1])
hosts = open(opts["UserKnownHostsFile"]).read() if "UserKnownHostsFile" in opts else None
with open(os.environ["FAKE_SSH_LOG"], "a") as log:
    log.write(json.dumps({{"host": sys.argv[-2], "verb": verb, "repo": repo, "opts": opts,
                          "key": key, "key_mode": mode, "known_hosts": hosts}}) + "\\n")
os.execvp("git", ["git", verb.removeprefix("git-"), os.environ["FAKE_SSH_REMOTE"]])
""")
    ssh.chmod(0o755)
    return {"PATH": f"{bin_dir}:{BIN}:/usr/bin:/bin", "FAKE_SSH_LOG": str(log),
            "FAKE_SSH_REMOTE": str(bare)}


def _no_credentials_left(job: Job) -> None:
    """Nothing in the work tree's git config nor in RUNNER_TEMP holds a credential."""
    config = (job.work / ".git" / "config").read_text()
    assert "extraheader" not in config and "sshCommand" not in config, config
    assert git(job.work, "remote", "get-url", "origin") == (job.remote or str(job.bare))
    assert not list((job.work.parent / "runner-temp").glob("dixit-*"))


@pytest.fixture(scope="module")
def closed_by_workflow(world: World, tmp_path_factory: pytest.TempPathFactory
                       ) -> tuple[Path, dict[str, Any], Job]:
    """The due round closed by the workflow as on GitHub with a deploy key: through ssh."""
    tmp = tmp_path_factory.mktemp("close")
    bare = _copy_bare(world, tmp / "ledger.git")
    job, procs = _close(world, tmp / "first", bare, deploy_key=DEPLOY_KEY)
    assert procs[-1].returncode == 0, procs[-1].stderr
    return bare, json.loads((tmp / "first" / "runner-temp" / "due.json").read_text()), job


def test_close_round_closes_a_due_round_and_pushes(closed_by_workflow) -> None:
    bare, due, job = closed_by_workflow
    assert job.ran == ["Close every due round"]
    assert due["closed"] == [1] and due["results"][0]["round"] == 1
    assert job.outputs == {"closed": "[1]"}
    assert git(bare, "rev-parse", "round-001-closed^{commit}") == git(bare, "rev-parse", "main")
    assert git(bare, "log", "-1", "--format=%s", "main") == "close: round 001 scored"


def test_close_round_pushes_with_the_deploy_key_given_to_its_step_only(closed_by_workflow
                                                                        ) -> None:
    _bare, _due, job = closed_by_workflow
    calls = [json.loads(line) for line in
             (job.work.parent / "ssh.log").read_text().splitlines()]
    assert {c["verb"] for c in calls} == {"git-upload-pack", "git-receive-pack"}
    for call in calls:
        assert (call["host"], call["repo"]) == ("git@github.com", "OWNER/REPO")
        assert call["key"] == DEPLOY_KEY + "\n" and call["key_mode"] == 0o600  # as ssh wants
        assert call["opts"]["StrictHostKeyChecking"] == "yes"
        assert call["opts"]["IdentitiesOnly"] == "yes"
        assert call["known_hosts"].startswith("github.com ssh-rsa AAAAB3NzaC1yc2E")
    _no_credentials_left(job)  # the key and known-hosts files went with the step


def test_close_round_fetches_with_the_token_given_to_its_step_only(world: World,
                                                                    tmp_path: Path) -> None:
    """Without a deploy key, git is given the job's token as actions/checkout would give it
    (an extra HTTP header for the server), in the step's environment only."""
    bare = _copy_bare(world, tmp_path / "ledger.git")
    real_git, shim, log = shutil.which("git"), tmp_path / "bin" / "git", tmp_path / "git.log"
    shim.parent.mkdir()
    shim.write_text(f"""#!/bin/sh
case "$1" in fetch|push)
  "{real_git}" config --get-all http.https://github.com/.extraheader >> "{log}";;
esac
exec "{real_git}" "$@"
""")
    shim.chmod(0o755)
    gitconfig = tmp_path / "gitconfig"  # https://github.com/OWNER/REPO served from the bare
    gitconfig.write_text(f'[url "{bare}"]\n\tinsteadOf = {GITHUB_URL}\n')
    job = Job(bare, tmp_path / "ws", {"github": {"ref_name": "main", "token": "ghs_t0ken"},
                                      "secrets": {}},
              env=runner_env(tmp_path / "home", PATH=f"{shim.parent}:{BIN}:/usr/bin:/bin",
                             GIT_CONFIG_GLOBAL=str(gitconfig)),
              remote=GITHUB_URL)
    procs = job.run(load("close-round.yml")["jobs"]["close"])  # nothing due: a fetch only
    assert procs[-1].returncode == 0, procs[-1].stderr
    assert job.outputs == {"closed": "[]"}
    basic = base64.b64encode(b"x-access-token:ghs_t0ken").decode()
    # two fetches (`dixit hints --due`, then `dixit score --due`), each with the header
    assert log.read_text().splitlines() == [f"AUTHORIZATION: basic {basic}"] * 2
    assert f"::add-mask::{basic}" in procs[-1].stdout
    _no_credentials_left(job)


def test_close_round_does_nothing_on_a_second_run(world: World, closed_by_workflow,
                                                  tmp_path: Path) -> None:
    bare, _due, _job = closed_by_workflow
    head = git(bare, "rev-parse", "main")
    job, procs = _close(world, tmp_path, bare)
    assert procs[-1].returncode == 0, procs[-1].stderr
    assert json.loads((tmp_path / "runner-temp" / "due.json").read_text()) == {
        "closed": [], "results": []}
    assert job.outputs == {"closed": "[]"}
    assert git(bare, "rev-parse", "main") == head


def test_close_round_does_nothing_before_the_deadline(world: World, tmp_path: Path) -> None:
    bare = _copy_bare(world, tmp_path / "ledger.git")
    head = git(bare, "rev-parse", "main")
    job = Job(bare, tmp_path / "ws", {"github": {"ref_name": "main"}, "secrets": {}},
              env=runner_env(tmp_path / "home"))  # no closer key needed when nothing is due
    procs = job.run(load("close-round.yml")["jobs"]["close"])
    assert procs[-1].returncode == 0, procs[-1].stderr
    assert job.outputs == {"closed": "[]"} and git(bare, "rev-parse", "main") == head


def test_workflows_do_nothing_in_the_engine_template_before_init(tmp_path: Path) -> None:
    """The engine repository is a template without tournament.toml: nothing to check or close."""
    bare = tmp_path / "template.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(bare), str(seed)], check=True)
    (seed / "rounds").mkdir()
    (seed / "rounds/README.md").write_text("rounds\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "template")
    git(seed, "push", "-q", "origin", "HEAD:main", "HEAD:refs/heads/pr-1")
    job = Job(bare, tmp_path / "ws", {"github": {"ref_name": "main"}},
              env=runner_env(tmp_path / "home"))
    procs = job.run(load("close-round.yml")["jobs"]["close"])
    assert procs[-1].returncode == 0 and job.outputs == {"closed": "[]"}
    pr = Job(bare, tmp_path / "ws2", {"github": {"base_ref": "main", "ref_name": "pull/pr-1"}},
             env=runner_env(tmp_path / "home"))
    procs = pr.run(load("validate.yml")["jobs"]["validate"])
    assert procs[-1].returncode == 0 and "nothing to validate" in procs[-1].stdout


# -- sharding -------------------------------------------------------------------------------------


@pytest.fixture
def due_clone(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone of the round, due (+3h), with only the closer's key from the environment."""
    bare = _copy_bare(world, tmp_path / "ledger.git")
    clone = tmp_path / "closer"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    monkeypatch.setenv("DIXIT_NOW", "+3h")
    monkeypatch.setenv("DIXIT_CLOSER_KEY", world.closer_key)
    return clone


def test_shards_merged_equal_a_single_run(closed_by_workflow, due_clone: Path,
                                          dixit: Runner, tmp_path: Path) -> None:
    from dixit.league import judge

    _bare, due, _job = closed_by_workflow
    single = due["results"][0]
    infos = [dixit.ok("-C", due_clone, "score", "--shard", f"{k}/2", "--out",
                      tmp_path / f"part-{k}.json", "--json").json() for k in (1, 2)]
    assert sorted(infos[0]["challenges"] + infos[1]["challenges"]) == ["alice", "bob", "carol"]
    assert git(due_clone, "log", "-1", "--format=%s") != "close: round 001 scored"
    text = (tmp_path / "part-1.json").read_text()
    assert json.loads(text)["format"] == "dixit-shard/1"
    merged = dixit.ok("-C", due_clone, "score", "--merge", tmp_path / "part-2.json",
                      tmp_path / "part-1.json", "--json").json()
    assert judge.comparable(merged) == judge.comparable(single)
    assert git(due_clone, "rev-parse", "round-001-closed^{commit}") == \
        git(due_clone, "rev-parse", "main")
    again = dixit.ok("-C", due_clone, "score", "--merge", tmp_path / "part-1.json",
                     tmp_path / "part-2.json", "--json").json()
    assert again == merged  # merging twice writes nothing new
    assert dixit.ok("-C", due_clone, "verify", "--no-replay", "--json").json()["ok"]


def _bad_parts(tmp: Path, parts: list[Path], case: str) -> list[Path]:
    datas = [json.loads(p.read_text()) for p in parts]
    if case == "missing":
        datas = datas[:1]
    elif case == "twice":
        datas = [datas[0], datas[0]]
    elif case == "round":
        datas[1]["round"] = 2
    elif case == "plan":
        datas[0]["shard"]["n"] = 3
    elif case == "inputs":
        datas[1]["inputs"] = "0" * 64
    elif case == "facts":
        target = next(iter(datas[0]["facts"]))
        datas[0]["facts"][target]["submissions"]["mallory"] = {"agreement": 1.0, "error": None,
                                                               "score": 1.0}
    elif case == "pickle":
        (tmp / "bad.json").write_bytes(b"\x80\x04K\x01.")
        return [tmp / "bad.json", parts[1]]
    out = []
    for i, d in enumerate(datas):
        out.append(tmp / f"bad-{i}.json")
        out[-1].write_text(json.dumps(d))
    return out


@pytest.mark.parametrize(("case", "needle"), [
    ("missing", "missing shard(s) 2/2 of round 1"),
    ("twice", "given twice"),
    ("round", "is for round 2"),
    ("plan", "use one shard plan"),
    ("inputs", "the round's entries changed since"),
    ("facts", "has submissions from"),
    ("pickle", "not JSON"),
])
def test_merge_refuses_parts_that_do_not_fit(world: World, due_clone: Path, dixit: Runner,
                                             tmp_path: Path, case: str, needle: str) -> None:
    from dixit.league import actions, shards

    # Well-formed parts written from the shard plan (no replay needed), then spoiled.
    state = actions.load_state(actions.open_ledger(due_clone))
    rnd = state.round(1)
    parts = [tmp_path / "p1.json", tmp_path / "p2.json"]
    for k, targets in enumerate(shards.plan(rnd, 2), 1):
        facts = {t: {"void": None, "model_accuracy": 0.9, "model_agreement": 0.9,
                     "model_score": 0.9, "draw_seed": None, "submissions": {
            s: {"agreement": 1.0, "error": None, "score": 1.0}
            for (s, tg) in rnd.submissions if tg == t}}
            for t in targets}
        parts[k - 1].write_text(json.dumps({
            "format": shards.FORMAT, "tournament": state.info.id, "round": 1,
            "ledger_commit": state.snapshot.commit, "isolation": "test",
            "inputs": shards.inputs_digest(state.snapshot, 1),
            "shard": {"k": k, "n": 2, "challenges": targets}, "facts": facts}))
    before = git(due_clone, "rev-parse", "main")
    res = dixit("-C", due_clone, "score", "--merge", *_bad_parts(tmp_path, parts, case))
    assert res.code == 1 and needle in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1
    assert git(due_clone, "rev-parse", "main") == before


def test_shard_usage_errors(dixit: Runner, due_clone: Path) -> None:
    assert dixit("-C", due_clone, "score", "--shard", "3/2", "--out", "x.json").code == 2
    assert dixit("-C", due_clone, "score", "--shard", "1/2").code == 2
    assert dixit("-C", due_clone, "score", "x.json").code == 2


def test_shard_plan_partitions_by_challenge_deterministically_and_balanced() -> None:
    from datetime import UTC, datetime

    from dixit.league import shards
    from dixit.ledger import state as st

    when = datetime(2026, 1, 1, tzinfo=UTC)
    rnd = st.Round(1, when, when, "")
    for t in ("a", "b", "c", "d", "e"):
        rnd.challenges[t] = None  # type: ignore[assignment]  # the plan reads names only
    for solver, target in [("b", "a"), ("c", "a"), ("d", "a"), ("e", "a"), ("a", "b"),
                           ("c", "b"), ("a", "c")]:
        rnd.submissions[(solver, target)] = None  # type: ignore[assignment]
    plan = shards.plan(rnd, 2)
    # weights a=5 b=3 c=2 d=1 e=1, dealt heaviest first to the lightest shard: 6 | 6
    assert plan == shards.plan(rnd, 2) == [["a", "d"], ["b", "c", "e"]]
    assert sorted(t for s in shards.plan(rnd, 3) for t in s) == ["a", "b", "c", "d", "e"]
    assert shards.plan(rnd, 7)[5:] == [[], []]  # more shards than challenges: empty shards
    assert [shards.parse_spec(s) for s in ("1/1", "3/4")] == [(1, 1), (3, 4)]


@pytest.mark.parametrize(("mode", "what"), [
    ("160000", "a gitlink (submodule)"),   # erases carol's submission from every reader
    ("120000", "a symbolic link"),         # a model read through a link to /proc/kmsg hangs
    ("100755", "an executable file"),
])
def test_pull_request_with_a_non_regular_entry_is_refused(
        world: World, tmp_path: Path, dixit: Runner, mode: str, what: str) -> None:
    fork = _fork(tmp_path, world.league.bare, "fork")
    path = ("rounds/001/submissions/carol/alice.toml" if mode == "160000"
            else "rounds/001/challenges/alice/model.safetensors")
    if mode == "160000":
        target = git(fork, "rev-parse", "HEAD").strip()
    else:
        src = b"/proc/kmsg" if mode == "120000" else (fork / path).read_bytes()
        target = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=fork, input=src,
                                capture_output=True, check=True).stdout.decode().strip()
    git(fork, "update-index", "--cacheinfo", f"{mode},{target},{path}")
    git(fork, "commit", "-qm", f"turn {path} into {what}")
    git(fork, "push", "-q", str(world.league.bare), f"main:refs/heads/pr-mode-{mode}")
    proc, rep = _validate(world, tmp_path, f"pr-mode-{mode}")
    assert proc.returncode == 1
    assert f"{path}: {what}, not a regular file" in "\n".join(rep["problems"])
    # Merged anyway (a careless admin): verify and every reader refuse it by name.
    res = dixit("-C", fork, "verify", "--no-replay", "--json")
    assert res.code == 1
    assert any(f"{path}: {what}, not a regular file" in p for p in res.json()["problems"])
