"""The rulebook: ``scoring/rules.toml`` parsed and validated into plain dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dixit import tomlio
from dixit.errors import RulesError
from dixit.rules import domain_caps, explanations
from dixit.rules.domain_caps import DomainRules
from dixit.rules.explanations import ExplanationRules

DEFAULT_RULES_TOML = """\
# dixit rulebook: how challenges are judged and scored. Organizers may edit it before round 1;
# every closed round records the rules it was scored with, so `dixit verify` re-scores exactly.

[solve]
# A submission solves a challenge when its labels agree with the sealed labeler on at least
# this fraction of the evaluation domain (replayed over the whole domain, not a sample).
threshold = 0.99
# Beat the model: the published model is public, so a program that only reproduces it (a
# table of its outputs) must never solve a labeler challenge. A program must also keep at most
# this share of the model's own error: required = max(threshold, 1 - (1 - model) * share),
# where model is the published model's agreement with the labeler over the same inputs.
# 1.0 asks only to match the model; remove the line to judge by the threshold alone.
beat_model = 0.5
# A challenge judged by kl (its output is a distribution) is solved at a mean
# KL(reference || program) of at most this many nats per position. A challenge may set its
# own threshold inside each metric's bounds (agreement [0.9, 1], kl [0, 0.5]).
kl_threshold = 0.1
# Whether every submission must carry an explanation (`dixit submit --explanation FILE`, a
# .md or .ipynb file, sealed with the program and published at the close). Set it before a
# round opens: a submission is judged by the rulebook in force when it was committed.
require_explanation = false

[points]
# Dixit rules. For a challenge in a round with m other teams, k of which solved it:
#   k = 0 or k = m  -> the proposer scores 0 (too hard, or too easy);
#   k = 1 (< m)     -> the proposer scores proposer_unique, strictly the most;
#   1 < k < m       -> the proposer scores proposer_some (must be < proposer_unique).
# Every solver scores `solver` per challenge solved.
proposer_unique = 4
proposer_some = 2
solver = 3

[claims]
# The published model is replayed at score time; a claimed accuracy off from the measured one
# by more than this is flagged in the results and the standings.
accuracy_tolerance = 0.02

[limits]
# Largest model file and program (bytes) a team may publish.
max_model_bytes = 67108864
max_program_bytes = 262144

[replay]
# Limits for every replayed labeler and program, each in its own sandboxed process.
cpu_seconds = 20.0
wall_seconds = 30.0
memory_mb = 2048
output_bytes = 65536
batch_size = 4096
# Weakest isolation `dixit score` accepts: "full" (Landlock + seccomp + rlimits),
# "partial" (some kernel mechanism missing) or "none". Override once with --allow-weak-isolation.
isolation = "full"

[rounds]
# Who proposes in a round (the storytellers): "all" registered teams, or "rotate": per_round of
# them in turn, fixed when the round opens (fewest turns so far first, then the longest since
# their last turn, then by name; the round entry records them). Everyone else solves.
proposers = "all"
per_round = 1

[domains]
# How much of an evaluation domain a challenge may name. The engine holds a domain outside the
# sandbox (at propose, score and verify), so a domain over these is refused at propose and by
# `dixit validate`, and is void at the close. Each may be lowered, never raised: the values
# here are also the ceilings the closer is built for.
# Numbers in all: grid points x coordinates, sampled tokens, a dataset's elements.
max_elements = 100000000
# Tokens a sequence (the transformer's largest context).
max_sequence_length = 4096
# A dataset file under scoring/data/ (512 MiB).
max_dataset_bytes = 536870912

[explanations]
# The largest explanation a team may seal with its program, by format; like [domains], each may
# be lowered, never raised. Markdown (1 MiB):
max_markdown_bytes = 1048576
# A Jupyter notebook, its outputs' images included (8 MiB):
max_notebook_bytes = 8388608
"""


@dataclass(frozen=True)
class Points:
    proposer_unique: int = 4
    proposer_some: int = 2
    solver: int = 3


@dataclass(frozen=True)
class ReplayRules:
    cpu_seconds: float = 20.0
    wall_seconds: float = 30.0
    memory_mb: int = 2048
    output_bytes: int = 65536
    batch_size: int = 4096
    isolation: str = "full"


@dataclass(frozen=True)
class Rounds:
    """``[rounds]``: who proposes. ``all`` (every team may) or ``rotate`` (``per_round``
    storytellers a round, in turn: ``dixit.rules.turns``)."""

    proposers: str = "all"
    per_round: int = 1


def _rounds(data: dict[str, Any]) -> Rounds:
    d = Rounds()
    return Rounds(proposers=_get(data, "rounds", "proposers", str, d.proposers),
                  per_round=_get(data, "rounds", "per_round", int, d.per_round))


@dataclass(frozen=True)
class Rulebook:
    threshold: float = 0.99
    kl_threshold: float = 0.1
    points: Points = field(default_factory=Points)
    beat_model: float | None = 0.5  # None: judged by the threshold alone (older rulebooks)
    accuracy_tolerance: float = 0.02
    max_model_bytes: int = 67108864
    max_program_bytes: int = 262144
    replay: ReplayRules = field(default_factory=ReplayRules)
    rounds: Rounds = field(default_factory=Rounds)
    domains: DomainRules = field(default_factory=DomainRules)  # [domains]: domain_caps
    require_explanation: bool = False  # [solve]: every submission carries an explanation
    explanations: ExplanationRules = field(default_factory=ExplanationRules)  # [explanations]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _get(table: dict[str, Any], section: str, key: str, kind: type, default: Any) -> Any:
    sec = table.get(section, {})
    if not isinstance(sec, dict):
        raise RulesError(f"rules.toml: [{section}] must be a table")
    value = sec.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise RulesError(f"rules.toml: {section}.{key} must be a {kind.__name__}, "
                         f"got {value!r}")
    return value


def from_dict(data: dict[str, Any]) -> Rulebook:
    d = Rulebook()
    pts = Points(
        proposer_unique=_get(data, "points", "proposer_unique", int, d.points.proposer_unique),
        proposer_some=_get(data, "points", "proposer_some", int, d.points.proposer_some),
        solver=_get(data, "points", "solver", int, d.points.solver),
    )
    rp = ReplayRules(**{k: _get(data, "replay", k, type(v), v)
                        for k, v in asdict(d.replay).items()})
    beat = data.get("solve", {}).get("beat_model", d.beat_model) \
        if isinstance(data.get("solve", {}), dict) else d.beat_model
    book = Rulebook(
        threshold=_get(data, "solve", "threshold", float, d.threshold),
        kl_threshold=_get(data, "solve", "kl_threshold", float, d.kl_threshold),
        beat_model=None if beat is None else _get(data, "solve", "beat_model", float, beat),
        points=pts,
        accuracy_tolerance=_get(data, "claims", "accuracy_tolerance", float,
                                d.accuracy_tolerance),
        max_model_bytes=_get(data, "limits", "max_model_bytes", int, d.max_model_bytes),
        max_program_bytes=_get(data, "limits", "max_program_bytes", int, d.max_program_bytes),
        replay=rp,
        rounds=_rounds(data),
        domains=domain_caps.from_table(data),
        require_explanation=_get(data, "solve", "require_explanation", bool,
                                 d.require_explanation),
        explanations=explanations.from_table(data),
    )
    validate(book)
    return book


def from_record(record: dict[str, Any]) -> Rulebook:
    """The inverse of ``Rulebook.as_dict`` (the rules a closed round recorded), validated."""
    # A round closed before beat-the-model existed recorded no beat_model: judged without it.
    return from_dict({
        "solve": {"threshold": record.get("threshold"),
                  "kl_threshold": record.get("kl_threshold", Rulebook.kl_threshold),
                  "beat_model": record.get("beat_model"),
                  # none recorded before explanations existed: none was required
                  "require_explanation": record.get("require_explanation", False)},
        "points": record.get("points", {}),
        "claims": {"accuracy_tolerance": record.get("accuracy_tolerance")},
        "limits": {"max_model_bytes": record.get("max_model_bytes"),
                   "max_program_bytes": record.get("max_program_bytes")},
        "replay": record.get("replay", {}),
        "rounds": record.get("rounds", {}),  # none recorded before turns existed: "all"
        # rounds closed before [domains] existed recorded none: judged with the ceilings
        domain_caps.SECTION: record.get(domain_caps.SECTION, {}),
        explanations.SECTION: record.get(explanations.SECTION, {}),
    })


def validate(book: Rulebook) -> None:
    p = book.points
    if not 0.0 < book.threshold <= 1.0:
        raise RulesError("rules.toml: solve.threshold must be in (0, 1]")
    if not 0.0 <= book.kl_threshold <= 0.5:
        raise RulesError("rules.toml: solve.kl_threshold must be in [0, 0.5] nats")
    if book.beat_model is not None and not 0.0 <= book.beat_model <= 1.0:
        raise RulesError("rules.toml: solve.beat_model must be in [0, 1] (the share of the "
                         "model's error a solving program may keep)")
    if not 0 <= p.proposer_some < p.proposer_unique:
        raise RulesError("rules.toml: need 0 <= points.proposer_some < points.proposer_unique "
                         "(Dixit: the proposer scores most when exactly one team solves)")
    if p.solver < 0:
        raise RulesError("rules.toml: points.solver must be >= 0")
    if not 0.0 <= book.accuracy_tolerance <= 1.0:
        raise RulesError("rules.toml: claims.accuracy_tolerance must be in [0, 1]")
    if book.max_model_bytes <= 0 or book.max_program_bytes <= 0:
        raise RulesError("rules.toml: limits must be positive")
    r = book.replay
    if r.cpu_seconds <= 0 or r.wall_seconds <= 0 or r.memory_mb <= 0 or r.batch_size <= 0:
        raise RulesError("rules.toml: replay limits must be positive")
    if r.isolation not in ("full", "partial", "none"):
        raise RulesError("rules.toml: replay.isolation must be \"full\", \"partial\" or \"none\"")
    if book.rounds.proposers not in ("all", "rotate"):
        raise RulesError("rules.toml: rounds.proposers must be \"all\" or \"rotate\"")
    if book.rounds.per_round < 1:
        raise RulesError("rules.toml: rounds.per_round must be >= 1")
    domain_caps.validate(book.domains)
    explanations.validate(book.explanations)


# Rule keys a closed round's record may lack, having been closed before they existed (a
# record's as_dict() then reads the defaults for them; ``dixit verify`` compares without them).
ADDED_LATER = (domain_caps.SECTION, "require_explanation", explanations.SECTION)


def parse_text(text: str, source: str = "rules.toml") -> Rulebook:
    try:
        data = tomlio.loads(text)
    except tomlio.TomlError as exc:
        raise RulesError(f"{source} is not valid TOML: {exc}") from None
    return from_dict(data)

