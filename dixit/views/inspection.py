"""``dixit inspect``: what a challenge is and whether its seal holds, without running its code.

A challenge is named by a team (its challenge in the current round, or ``--round N``), by a
folder made by ``dixit challenge new`` (``source: "local"``, the proposer's own), or by a
ledger challenge folder ``rounds/NNN/challenges/TEAM`` in a clone (``source: "ledger"``, as a
team name is). The model is built from its config and its weights loaded with the strict
checks of ``dixit.models`` (never unpickled); the labeler is never run here.

``inspect()`` returns this JSON-ready dict (``dixit inspect --json`` prints it):

    source        "local" | "ledger"
    team, round   the proposer and round number (null for a local folder)
    phase         the round's phase now ("proposing", "solving", "revealing", "closed") or null
    kind          "labeler" | "emulate" | "flag" (a missing kind is "labeler")
    architecture  {"arch": str, "config": {...}}       the [model] table, as written
    parameters    {"total": int, "modules": {top-level module: int},
                   "tensors": [{"name", "shape", "dtype", "numel"}]}  or null (bad config)
    model         {"path", "bytes", "sha256", "loads": bool, "error": str | null}
    domain        {"spec", "kind", "size", "input_shape", "grid2d", "identity", "error"}
    accuracy      {"claimed", "train", "train_frac", "seed", "positive_rate"}
    judging       null (flag) or {"output", "metric", "threshold", "required", "against":
                   "labeler" | "model"}: required is estimated from the claims (beat the
                   model) until the round closes, then the figure the close measured
    seal          null (local) or {"status": "ok" | "mismatch", "commitment", "scheme",
                   "model_sha256", "model": ..., "model_file": ..., "domain_id", "domain": ...,
                   "escrowed": bool, "escrow": ..., "revealed": bool, "revealed_by", "reveal": ...}
                   where each check is "ok", "mismatch", "missing" (or null: nothing to check)
    results       null, or for a closed round {"model_accuracy", "claimed_accuracy",
                   "claim_flagged", "void", "solved_by", "points"}
    hints         the published hints (texts); hint_images: their pictures (absolute paths)
    answer_format a flag challenge's public answer format, or null
    timed_hints   [{"index", "at", "status", "released", "text", "error"}]: status "due",
                  "released" or "failed" (``dixit.views.read.published``); a local folder's
                  are "sealed at propose", with their times as written and never their text
    explanations  the explanations sealed with this challenge's submissions
                  (``dixit.views.explanations.Explanation``): {"team", "target", "round",
                  "name", "format", "bytes", "commitment", "status" ("sealed", "revealed",
                  "mismatch", "missing"), "file", "sha256", "text", "error"}; text and sha256
                  only once revealed and matching the seal
    explanation   with ``submission=TEAM``: that team's (one of the above), or null when its
                  submission carries none
    files         absolute paths: {"folder", "challenge", "model", "secret" (a local folder's
                   labeler or flag file), "escrow", "reveal", "results"} (null: no such file)
    problems      one line per failed check (empty when everything holds)

``seal.model`` checks the committed model against the sealed ``model_sha256``;
``seal.model_file`` checks the file in this clone's working tree (what ``dixit.models.load``
reads), so a model edited on disk shows as a mismatch even before it is committed.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from dixit import challenge, models
from dixit.data import domains
from dixit.errors import ChallengeError, DixitError, EntryError, SealError, UsageError
from dixit.league import checks
from dixit.ledger import clock, entries, layout, seal, state as st
from dixit.ledger.fsutil import read_regular
from dixit.ledger.store import Ledger, find_root
from dixit.views import explanations, read as read_views, tables

if TYPE_CHECKING:
    from torch import nn

Warn = Callable[[str], None]
MAX_MODEL_READ = 1 << 30  # above any rulebook's limits.max_model_bytes
_LEDGER_FOLDER = re.compile(r"^rounds/(\d+)/challenges/([a-z0-9][a-z0-9_-]*)$")


@dataclass
class Target:
    """A resolved challenge: a local folder, or a ledger entry read from one snapshot."""

    source: str                       # "local" or "ledger"
    folder: Path                      # on disk
    meta: dict[str, Any]
    config: dict[str, Any]
    root: Path                        # where dataset: domains resolve
    local: challenge.LocalChallenge | None = None
    ledger: Ledger | None = None
    state: st.State | None = None
    round: st.Round | None = None
    entry: st.Challenge | None = None
    proposed: tuple[int, str] | None = None  # a local folder already in the ledger: where

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind", "labeler"))

    @property
    def team(self) -> str | None:
        return self.entry.team if self.entry else None

    @property
    def label(self) -> str:
        """How messages name this challenge."""
        if self.entry is not None:
            return f"{self.entry.team}'s challenge in round {self.entry.round}"
        return f"the challenge in {self.folder}"

    @property
    def model_name(self) -> str:
        return str(self.meta.get("model", "model.safetensors"))

    def domain(self) -> domains.Domain:
        return domains.parse(str(self.meta.get("domain", "")), root=self.root,
                             seed=int(self.meta.get("seed", 0)))

    def model_bytes(self) -> bytes | None:
        """The model that counts: the committed one for a ledger entry, else the file.

        None when absent or over the rulebook's size limit (checked before reading)."""
        limit = self.state.rules.max_model_bytes if self.state else None
        if self.entry is not None and self.state is not None:
            snap = self.state.snapshot
            sha = snap.blob_id(f"{self.entry.folder}/{self.model_name}")
            if sha is None:
                return None
            if limit is not None and snap.repo.odb.info(bytes.fromhex(sha)).size > limit:
                return None
            return snap.read(f"{self.entry.folder}/{self.model_name}")
        try:  # a proposer's folder or a checkout: never through a link, never a FIFO
            return read_regular(self.folder, self.model_name, limit or MAX_MODEL_READ)
        except OSError:
            return None

    def load_model(self) -> nn.Module:
        """The model, loaded with strict checks; ChallengeError if it cannot be."""
        if self.entry is None:
            return models.load_weights(self.config, self.folder / self.model_name)
        data = self.model_bytes()
        if data is None:
            raise ChallengeError(f"the model of {self.label} is missing or over the size limit")
        with tempfile.NamedTemporaryFile(suffix=".safetensors") as fh:
            fh.write(data)
            fh.flush()
            try:
                return models.load_weights(self.config, Path(fh.name))
            except ChallengeError as exc:  # name the committed file, not the temporary copy
                raise ChallengeError(str(exc).replace(
                    fh.name, f"{self.entry.folder}/{self.model_name} (committed)")) from None


def resolve(name: str, *, root: Path | None = None, round_no: int | None = None,
            warn: Warn | None = None, refresh: bool = True) -> Target:
    """Find the challenge ``name`` names: a challenge folder on disk, else a team's entry in the
    tournament at ``root`` (default: the one around the current directory)."""
    path = Path(name)
    try:
        is_folder = (path / "challenge.toml").is_file() or (path.is_file()
                                                             and path.name == "challenge.toml")
        path.exists()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ChallengeError(f"{name[:40]!r}... is neither a team name nor a challenge folder "
                             f"({exc.strerror})") from None
    if is_folder or "/" in name or not entries.NAME_RE.match(name):
        return _resolve_path(path.parent if path.is_file() else path, round_no, warn, refresh,
                             root)
    ledger = _open(root or Path.cwd(), warn, refresh)
    state = st.load(ledger.snapshot())
    return _ledger_target(ledger, state, name, round_no)


def _open(where: Path, warn: Warn | None, refresh: bool) -> Ledger:
    ledger = Ledger(find_root(where))
    if refresh:
        problem = ledger.refresh()
        if problem and warn:
            warn(problem)
    return ledger


def _resolve_path(folder: Path, round_no: int | None, warn: Warn | None,
                  refresh: bool, where: Path | None = None) -> Target:
    if not folder.exists():
        raise ChallengeError(f"no challenge folder {folder} and no team of that name; give a "
                             "team name or a folder made by `dixit challenge new`")
    resolved = folder.resolve()
    try:
        root: Path | None = find_root(resolved)
    except DixitError:
        root = None
    if root is not None:
        m = _LEDGER_FOLDER.match(resolved.relative_to(root).as_posix())
        if m:  # a ledger entry on disk: read it from the ledger, where it is signed
            number = int(m.group(1))
            if round_no is not None and round_no != number:
                raise UsageError(f"{folder} is in round {number}, not round {round_no}")
            ledger = _open(root, warn, refresh)
            return _ledger_target(ledger, st.load(ledger.snapshot()), m.group(2), number)
    if round_no is not None:
        raise UsageError("--round applies to a team name, not to a challenge folder")
    ch = challenge.read(resolved)
    return Target(source="local", folder=resolved, meta=ch.meta, config=ch.model,
                  root=root or Path.cwd(), local=ch,
                  proposed=_proposed_as(ch, root or where or Path.cwd()))


def _proposed_as(ch: challenge.LocalChallenge, where: Path) -> tuple[int, str] | None:
    """The (round, team) whose sealed model is this folder's, in the tournament around
    ``where`` (any round, not only the current one), or None."""
    try:
        state = st.load(Ledger(find_root(where)).snapshot())
        model = read_regular(ch.folder, ch.weights.name, MAX_MODEL_READ)
    except (DixitError, OSError):
        return None
    sha = hashlib.sha256(model).hexdigest()
    for number, rnd in sorted(state.rounds.items(), reverse=True):
        for team, entry in sorted(rnd.challenges.items()):
            if entry.seal.get("model_sha256") == sha:
                return number, team
    return None


def _ledger_target(ledger: Ledger, state: st.State, team: str,
                   round_no: int | None) -> Target:
    if team not in state.teams:  # a removed team's old challenges stay inspectable
        state.team_key(team)  # raises the usual one-line unknown-team message
    rnd = state.round(round_no)
    entry = rnd.challenges.get(team)
    if entry is None:
        raise EntryError(f"'{team}' has not proposed a challenge in round {rnd.number} "
                         f"(proposed: {', '.join(sorted(rnd.challenges)) or 'none'})")
    return Target(source="ledger", folder=ledger.root / entry.folder, meta=entry.meta,
                  config=entry.model, root=ledger.root, ledger=ledger, state=state, round=rnd,
                  entry=entry)


# -- the facts ----------------------------------------------------------------------------------


def parameter_counts(module: nn.Module) -> dict[str, Any]:
    """Total parameters, per top-level module and per tensor (shared tensors counted once)."""
    tensors = [{"name": n, "shape": list(p.shape), "dtype": str(p.dtype).removeprefix("torch."),
                "numel": int(p.numel())} for n, p in module.named_parameters()]
    groups: dict[str, int] = {}
    for t in tensors:
        top = str(t["name"]).split(".", 1)[0]
        groups[top] = groups.get(top, 0) + int(t["numel"])
    return {"total": sum(int(t["numel"]) for t in tensors), "modules": groups,
            "tensors": tensors}


def inspect(name: str, *, root: Path | None = None, round_no: int | None = None,
            warn: Warn | None = None, submission: str | None = None) -> dict[str, Any]:
    """Everything ``dixit inspect`` shows about a challenge (see the module docstring); with
    ``submission``, also that team's explanation."""
    t = resolve(name, root=root, round_no=round_no, warn=warn)
    if submission is not None:
        if t.entry is None or t.round is None or t.state is None:
            raise UsageError("--submission needs a proposed challenge (a team name or a "
                             "ledger challenge folder), not a local folder")
        entries.check_name(submission, "submission (team name)")
        if submission not in t.state.teams:
            t.state.team_key(submission)  # raises the usual one-line unknown-team message
        if (submission, t.entry.team) not in t.round.submissions:
            raise EntryError(f"'{submission}' submitted nothing for {t.label}")
    doc = describe(t)
    if submission is not None:
        doc["explanation"] = next((e for e in doc["explanations"] if e["team"] == submission),
                                  None)
    return doc


def describe(t: Target) -> dict[str, Any]:
    problems: list[str] = []
    meta = t.meta
    data = t.model_bytes()
    model_file = t.folder / t.model_name
    model: dict[str, Any] = {"path": str(model_file), "bytes": len(data) if data else None,
                             "sha256": hashlib.sha256(data).hexdigest() if data else None,
                             "loads": False, "error": None}
    module = None
    try:
        module = t.load_model()
        model["loads"] = True
    except ChallengeError as exc:
        model["error"] = str(exc)
        problems.append(f"model: {exc}")
    if module is None:
        try:  # the counts follow from the config alone, even when the weights are bad
            module = models.build(t.config)
        except ChallengeError as exc:
            if str(exc) not in str(model["error"]):  # a bad config already failed the load
                problems.append(f"architecture: {exc}")
    dom_info: dict[str, Any] = {"spec": str(meta.get("domain", "")), "kind": None, "size": None,
                                "input_shape": None, "grid2d": False, "identity": None,
                                "error": None}
    try:
        dom = t.domain()
        dom_info.update(kind=dom.kind, size=dom.size, input_shape=list(dom.input_shape),
                        grid2d=dom.is_grid2d, identity=dom.identity())
    except DixitError as exc:
        dom_info["error"] = str(exc)
        problems.append(f"domain: {exc}")
    rnd, entry = t.round, t.entry
    doc: dict[str, Any] = {
        "source": t.source,
        "proposed": {"round": t.proposed[0], "team": t.proposed[1]} if t.proposed else None,
        "team": t.team,
        "round": rnd.number if rnd else None,
        "phase": rnd.phase(clock.now()) if rnd else None,
        "kind": t.kind,
        "architecture": {"arch": t.config.get("arch"), "config": entries.normalize(t.config)},
        "parameters": parameter_counts(module) if module is not None else None,
        "model": model,
        "domain": dom_info,
        "accuracy": {"claimed": meta.get("claimed_accuracy"),
                     "train": meta.get("train_accuracy"),
                     "train_frac": meta.get("train_frac"), "seed": meta.get("seed"),
                     "positive_rate": meta.get("positive_rate")},
        "judging": _judging(t, problems),
        **_published(t),
        "explanations": [],
        "seal": None,
        "results": None,
        "files": _files(t),
        "problems": problems,
    }
    if entry is not None and rnd is not None and t.state is not None:
        doc["seal"] = _seal_status(t, data, model_file, dom_info["identity"], problems)
        if rnd.results is not None:
            doc["results"] = _results(rnd.results, entry.team)
        doc["explanations"] = [e.as_dict() for e in explanations.of_round(t.state, rnd,
                                                                          entry.team)]
        for e in doc["explanations"]:
            if e["status"] == "mismatch":
                problems.append(f"explanation: {e['error']}")
    return doc


def _published(t: Target) -> dict[str, Any]:
    """The hints and answer format, from the signed entry or the local folder."""
    if t.entry is not None and t.ledger is not None:
        shown = read_views.published(t.entry, t.round,
                                     t.state.snapshot if t.state is not None else None)
        shown["hint_images"] = [str(t.ledger.root / p) for p in shown["hint_images"]]
        return shown
    hints = t.local.hints if t.local is not None else None
    if hints is None:
        return {"hints": [], "hint_images": [], "answer_format": None, "timed_hints": []}
    # a local folder's timed hints are still the proposer's secret: their times only
    return {"hints": list(hints.texts),
            "hint_images": [str(t.folder / layout.hint_image_name(i))
                            for i in range(1, len(hints.images) + 1)],
            "answer_format": hints.answer_format,
            "timed_hints": [{"index": i, "at": when, "status": "sealed at propose",
                             "released": None, "text": None, "error": None}
                            for i, (when, _text) in enumerate(hints.timed, 1)]}


def _files(t: Target) -> dict[str, str | None]:
    files: dict[str, str | None] = {
        "folder": str(t.folder), "challenge": str(t.folder / "challenge.toml"),
        "model": str(t.folder / t.model_name), "secret": None, "escrow": None,
        "reveal": None, "results": None}
    if t.local is not None:
        files["secret"] = str(t.local.labeler)
    if t.entry is not None and t.round is not None and t.state is not None and t.ledger:
        snap, number = t.state.snapshot, t.round.number
        escrow = layout.escrow_path(number, t.entry.team, layout.SECRET_ITEM)
        if snap.exists(escrow):
            files["escrow"] = str(t.ledger.root / escrow)
        rv = t.round.reveals.get((t.entry.team, layout.SECRET_ITEM))
        if rv is not None:
            files["reveal"] = str(t.ledger.root / rv.path)
        if t.round.closed:
            files["results"] = str(t.ledger.root / layout.round_dir(number) / "results.toml")
    return files


def _seal_status(t: Target, model: bytes | None, model_file: Path, domain_id: str | None,
                 problems: list[str]) -> dict[str, Any]:
    from dixit.ledger import protocol

    assert t.entry is not None and t.round is not None and t.state is not None
    sealed, team, rnd = t.entry.seal, t.entry.team, t.round
    want = str(sealed.get("model_sha256", ""))

    def check(ok: bool | None, what: str, why: str) -> str | None:
        if ok is None:
            return None
        if not ok:
            problems.append(f"{what}: {why}")
        return "ok" if ok else "mismatch"

    status: dict[str, Any] = {"commitment": sealed.get("commitment"),
                              "scheme": sealed.get("scheme"), "model_sha256": want or None}
    if model is None:
        status["model"] = "missing"
        problems.append("model: the committed model is missing or over the size limit")
    else:
        status["model"] = check(seal.sha256_hex(model) == want, "model",
                                "the committed model does not match the sealed model_sha256")
    try:
        on_disk = read_regular(model_file.parent, model_file.name, MAX_MODEL_READ)
    except OSError:
        on_disk = None
    if on_disk is None:
        status["model_file"] = "missing"
        problems.append(f"model file: {model_file} is missing from this clone")
    else:
        status["model_file"] = check(
            seal.sha256_hex(on_disk) == want, "model file",
            f"{model_file} does not match the sealed model_sha256 (edited in this clone? "
            f"`git checkout -- {t.entry.folder}` restores it)")
    status["domain_id"] = sealed.get("domain_id")
    status["domain"] = "missing" if domain_id is None else check(
        domain_id == sealed.get("domain_id"), "domain",
        "the domain's identity no longer matches the sealed domain_id")
    blob = t.state.snapshot.read(layout.escrow_path(rnd.number, team, layout.SECRET_ITEM))
    status["escrowed"] = blob is not None
    if blob is not None:
        status["escrow"] = check(seal.sha256_hex(blob) == sealed.get("escrow_sha256"),
                                 "escrow", "the escrow file does not match its sealed hash")
    else:
        status["escrow"] = None
        if "escrow_sha256" in sealed:
            status["escrow"] = "missing"
            problems.append("escrow: the sealed escrow file is missing")
    rv = rnd.reveals.get((team, layout.SECRET_ITEM))
    status["revealed"] = rv is not None
    status["revealed_by"] = rv.by if rv else None
    status["reveal"] = None
    if rv is not None:
        payload = t.state.snapshot.read(rv.path)
        try:
            if payload is None:
                raise SealError(f"reveal file {rv.path} is missing")
            context = checks.context_for(t.state.info, rnd, team, layout.SECRET_ITEM)
            protocol.check_reveal(sealed, context, seal.unb64(rv.salt), payload,
                                  "the revealed secret")
            status["reveal"] = "ok"
        except (SealError, EntryError) as exc:
            status["reveal"] = "mismatch"
            problems.append(f"reveal: {exc}")
    parts = ("model", "model_file", "domain", "escrow", "reveal")
    status["status"] = "ok" if all(status[k] in ("ok", None) for k in parts) else "mismatch"
    return {"status": status.pop("status"), **status}


def _judging(t: Target, problems: list[str]) -> dict[str, Any] | None:
    """How the challenge is judged and (estimated from its claims until it is closed) the
    figure a program needs: the same estimate ``propose`` prints."""
    from dixit.rules import kinds, points, scheme as schemes
    from dixit.rules.rulebook import Rulebook

    if t.kind == "flag":
        return None
    book = t.state.rules if t.state is not None else Rulebook()
    try:
        how = schemes.of(t.meta, book)
        kind = kinds.get(t.kind)
    except DixitError as exc:
        problems.append(f"judging: {exc}")
        return None
    claimed, frac = t.meta.get("claimed_accuracy"), t.meta.get("train_frac", 1.0)
    need = how.threshold
    if kind.model_can_solve and how.metric == "agreement" and isinstance(claimed, float):
        train = float(t.meta.get("train_accuracy", claimed))
        whole = frac * train + (1 - frac) * claimed if frac < 1 else claimed
        need = points.required(how.threshold, whole, book.beat_model)
    if t.round is not None and t.round.results is not None and t.team is not None:
        for ch in t.round.results.get("challenges", []):
            if ch.get("proposer") == t.team and ch.get("required") is not None:
                need = float(ch["required"])  # measured at the close
    return {"output": how.output.spec, "metric": how.metric, "threshold": how.threshold,
            "required": need, "against": "model" if kind.reference == "model" else "labeler"}


def _results(results: dict[str, Any], team: str) -> dict[str, Any] | None:
    from dixit.league import judge

    for ch in judge.public(results).get("challenges", []):
        if ch.get("proposer") == team:
            return {"model_accuracy": ch.get("model_accuracy"),
                    "claimed_accuracy": ch.get("claimed_accuracy"),
                    "claim_flagged": bool(ch.get("claim_flagged")), "void": ch.get("void"),
                    "solved_by": list(ch.get("solved_by", [])),
                    "points": dict(ch.get("points", {}))}
    return None


# -- for people ---------------------------------------------------------------------------------


def _pct(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, int | float) and not isinstance(value, bool) \
        else "–"


def _check(value: str | None) -> Text:
    if value is None:
        return Text("–", style="dim")
    return Text(value, style="green" if value == "ok" else "red bold")


def renderable(doc: dict[str, Any]) -> Group:
    """A rich table of ``describe``'s dict; every team-chosen value is plain Text."""
    if doc["source"] == "ledger":
        title = f"{doc['team']}'s challenge, round {doc['round']:03d} ({doc['phase']})"
    else:
        where = doc.get("proposed")
        title = f"local challenge {doc['files']['folder']} " + (
            f"(proposed in round {where['round']:03d} by {where['team']})" if where
            else "(not proposed)")
    # Text everywhere: a folder name or config value with [brackets] is shown, not rendered.
    table = Table(title=Text(title), title_justify="left", show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")  # paths and hashes whole, never cut

    def row(key: str, value: Text | str) -> None:
        table.add_row(Text(key), value if isinstance(value, Text) else Text(str(value)))

    row("kind", doc["kind"])
    arch = doc["architecture"]
    row("architecture", f"{arch['arch']}  " + ", ".join(
        f"{k}={v}" for k, v in arch["config"].items() if k != "arch"))
    params = doc["parameters"]
    if params is not None:
        row("parameters", f"{params['total']:,}")
        for group, n in params["modules"].items():
            row(f"  {group}", f"{n:,}")
            for tensor in params["tensors"]:
                if str(tensor["name"]).split(".", 1)[0] != group:
                    continue
                shape = "×".join(map(str, tensor["shape"])) or "scalar"
                row(f"    {tensor['name']}", f"{shape} {tensor['dtype']} = {tensor['numel']:,}")
    model = doc["model"]
    row("model", (f"{model['bytes']:,} bytes, sha256 {model['sha256'][:16]}…"
                  if model["bytes"] is not None else "missing")
        + ("" if model["loads"] else f"; does not load: {model['error']}"))
    dom = doc["domain"]
    row("domain", dom["spec"] + (f"  ({dom['size']:,} inputs, identity {dom['identity'][:16]}…)"
                                 if dom["error"] is None else f"  (unusable: {dom['error']})"))
    acc = doc["accuracy"]
    row("claimed accuracy", f"{_pct(acc['claimed'])} held out (train {_pct(acc['train'])}, "
        f"train fraction {acc['train_frac']}, seed {acc['seed']})")
    jd = doc["judging"]
    if jd is not None:
        need = f"{jd['required']:.4g} nats" if jd["metric"] == "kl" else _pct(jd["required"])
        row("judged by", f"{jd['metric']} with the {jd['against']} (output {jd['output']}); "
            f"solved at {'<=' if jd['metric'] == 'kl' else '>='} {need}")
    for hint in doc.get("hints", []):
        row("hint", hint)
    for picture in doc.get("hint_images", []):
        row("hint picture", picture)
    if doc.get("answer_format"):
        row("answer format", str(doc["answer_format"]))
    for h in doc.get("timed_hints", []):
        row(f"timed hint {h['index']}", f"at {h['at']} (sealed at propose; its text stays "
            "secret until the closer releases it)" if h["status"] == "sealed at propose"
            else tables.timed_hint_text(h))
    sl = doc["seal"]
    if sl is not None:
        table.add_section()
        row("seal", _check(sl["status"]))
        row("  commitment", str(sl["commitment"]))
        row("  committed model", _check(sl["model"]))
        row("  model file here", _check(sl["model_file"]))
        row("  domain identity", _check(sl["domain"]))
        row("  escrowed", _check(sl["escrow"]) if sl["escrowed"] else Text("no", style="dim"))
        row("  revealed", _check(sl["reveal"]).append(f" (by {sl['revealed_by']})")
            if sl["revealed"] else Text("not yet", style="dim"))
    told = doc.get("explanations", [])
    if told:
        table.add_section()
        for e in told:
            what = Text(f"{e['name']}, {e['bytes']:,} bytes, ")
            what.append(e["status"], style="green" if e["status"] == "revealed" else
                        "dim" if e["status"] == "sealed" else "red bold")
            if e["error"]:
                what.append(f" ({e['error']})")
            row(f"explanation by {e['team']}", what)
    res = doc["results"]
    if res is not None:
        table.add_section()
        measured = Text(f"{_pct(res['model_accuracy'])} measured vs {_pct(res['claimed_accuracy'])}"
                        " claimed")
        if res["claim_flagged"]:
            measured.append("  ⚑ off by more than the tolerance", style="yellow")
        row("results", measured)
        row("  solved by", ", ".join(res["solved_by"]) or "nobody")
        if res["void"]:
            row("  void", Text(str(res["void"]), style="red"))
    table.add_section()
    files = doc["files"]
    row("files", files["folder"])
    for key, path in files.items():
        if path is not None and key != "folder":
            row(f"  {key}", path)
    notes = [Text(f"✗ {p}", style="red") for p in doc["problems"]]
    shown = doc.get("explanation")
    if shown is not None:
        notes.append(explanations.renderable(explanations.Explanation(**shown)))
    return Group(table, *notes)
