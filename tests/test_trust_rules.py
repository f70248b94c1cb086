"""The rules of the game, table by table: Dixit points at every boundary, standings and their
tie-breaks, the rulebook's every field and limit, the challenge kinds and flag comparison."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from dixit.errors import ChallengeError, RulesError
from dixit.rules import flags, kinds, points as rules, rulebook
from dixit.rules.domain_caps import DomainRules
from dixit.rules.points import (
    ChallengeOutcome as Ch,
    ChallengeScore as Cs,
    RoundScore as Rs,
    Standing,
    SubmissionOutcome as Sub,
)
from dixit.rules.rulebook import Points, ReplayRules, Rulebook

# distinct values, so a mix-up of any two shows
P = Points(proposer_unique=7, proposer_some=5, solver=3)

# -- points ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "m", "expected"), [
    (0, 0, 0),   # a round of one team: nobody else, nothing
    (0, 1, 0), (1, 1, 0),                  # k = 0 or k = m: nothing, even when k = 1
    (0, 2, 0), (1, 2, 7), (2, 2, 0),
    (0, 3, 0), (1, 3, 7), (2, 3, 5), (3, 3, 0),
    (1, 5, 7), (2, 5, 5), (4, 5, 5), (5, 5, 0),
])
def test_proposer_points(k: int, m: int, expected: int) -> None:
    assert rules.proposer_points(k, m, P) == expected


@pytest.mark.parametrize(("k", "m"), [(-1, 3), (4, 3), (1, 0), (0, -1), (-1, -1), (2, 1)])
def test_proposer_points_refuses_impossible_counts(k: int, m: int) -> None:
    with pytest.raises(ValueError) as err:
        rules.proposer_points(k, m, P)
    assert str(err.value) == f"need 0 <= k <= m, got k={k}, m={m}"


@pytest.mark.parametrize(("sub", "expected"), [
    (Sub("a", 0.99), True),            # exactly the threshold solves
    (Sub("a", 0.9899999), False),
    (Sub("a", 1.0), True),
    (Sub("a", None), False),
    (Sub("a", 1.0, "timed out"), False),
    (Sub("a", 1.0, ""), False),        # any error, even an empty one, is no solve
])
def test_solved(sub: Sub, expected: bool) -> None:
    assert rules.solved(sub, 0.99) is expected


def test_score_round_exactly() -> None:
    challenges = [
        Ch("b", [Sub("a", 1.0), Sub("c", 0.5), Sub("d", 1.0), Sub("d", 1.0)]),  # d twice: once
        Ch("a", [Sub("a", 1.0), Sub("b", 1.0), Sub("x", 1.0)]),  # own and unknown: ignored
        Ch("c", [Sub("a", 1.0)], void="labeler failed"),
        Ch("d", []),
    ]
    got = rules.score_round(["d", "c", "b", "a", "a"], challenges, 0.99, P)
    assert got == Rs(points={"a": 7 + 3, "b": 3 + 5, "c": 0, "d": 3}, challenges=[
        Cs("a", ["b"], {"a": 7, "b": 3}, m=3),
        Cs("b", ["a", "d"], {"b": 5, "a": 3, "d": 3}, m=3),
        Cs("c", [], {}, m=3, void="labeler failed"),
        Cs("d", [], {"d": 0}, m=3),
    ])
    assert list(got.points) == ["a", "b", "c", "d"]


def test_score_round_proposer_outside_the_roster() -> None:
    """A challenge by a team that is not playing still scores its solvers (and its proposer
    is added to the totals)."""
    got = rules.score_round(["a", "b"], [Ch("z", [Sub("a", 1.0)])], 0.99, P)
    assert got == Rs({"a": 3, "b": 0, "z": 7}, [Cs("z", ["a"], {"z": 7, "a": 3}, m=2)])


def test_score_round_of_nobody() -> None:
    assert rules.score_round([], [], 0.99, P) == Rs({}, [])


def test_score_round_uses_the_given_threshold() -> None:
    got = rules.score_round("ab", [Ch("a", [Sub("b", 0.5)])], 0.5, P)
    assert got.challenges[0].solved_by == ["b"] and got.points == {"a": 0, "b": 3}


def test_standings_exactly() -> None:
    r1 = Rs({"a": 7, "b": 3, "c": 0}, [Cs("a", ["b"], {"a": 7, "b": 3}, m=2),
                                       Cs("c", [], {}, m=2, void="x")])
    r2 = Rs({"a": 3, "c": 10}, [Cs("c", ["a"], {"c": 7, "a": 3}, m=1)])  # m = 1: no Dixit
    assert rules.standings([r1, r2]) == [
        Standing("a", 10, 1, 1, 2),
        Standing("c", 10, 0, 0, 2),
        Standing("b", 3, 1, 0, 1),
    ]


@pytest.mark.parametrize(("rounds", "order"), [
    # points first
    ([Rs({"a": 1, "b": 2}, [])], ["b", "a"]),
    # then solves
    ([Rs({"a": 3, "b": 3}, [Cs("x", ["b"], {}, m=2)])], ["b", "a"]),
    # then Dixit challenges (solved by exactly one other team, m > 1, not void)
    # (the solvers c and d are in no round's points: they are not ranked)
    ([Rs({"a": 3, "b": 3}, [Cs("b", ["c"], {}, m=2)])], ["b", "a"]),
    ([Rs({"a": 3, "b": 3}, [Cs("b", ["c"], {}, m=2, void="v")])], ["a", "b"]),
    ([Rs({"a": 3, "b": 3}, [Cs("b", ["c", "d"], {}, m=3)])], ["a", "b"]),
    ([Rs({"a": 3, "b": 3}, [Cs("b", ["c"], {}, m=1)])], ["a", "b"]),
    # then the name
    ([Rs({"b": 0, "a": 0}, [])], ["a", "b"]),
])
def test_standings_tie_breaks(rounds: list[Rs], order: list[str]) -> None:
    assert [s.team for s in rules.standings(rounds)] == order


def test_standings_count_rounds_solves_and_dixits() -> None:
    rs = [Rs({"a": 0, "b": 0}, [Cs("a", ["b"], {}, m=2), Cs("b", ["a"], {}, m=2)])] * 3
    assert rules.standings(rs) == [Standing("a", 0, 3, 3, 3), Standing("b", 0, 3, 3, 3)]
    assert rules.standings([]) == []
    # a solver who scored in no round's points still counts its solves, and plays no round
    only = rules.standings([Rs({"a": 0}, [Cs("a", ["z"], {}, m=2)])])
    assert only == [Standing("a", 0, 0, 1, 1)]


def test_standings_solves_and_dixits_before_a_team_scores() -> None:
    """A team that solves or proposes in a round before it has points in any: counted once."""
    r1 = Rs({"a": 0}, [Cs("a", ["z"], {}, m=2), Cs("y", ["a"], {}, m=2)])
    r2 = Rs({"z": 3, "y": 4}, [])
    assert rules.standings([r1, r2]) == [Standing("y", 4, 0, 1, 1), Standing("z", 3, 1, 0, 1),
                                         Standing("a", 0, 1, 1, 1)]


def test_round_score_from_results() -> None:
    results: dict[str, Any] = {
        "teams": ["a", "b", "c"],
        "points": {"a": 7, "b": "3", "c": 0},
        "challenges": [{"proposer": "a", "solved_by": ["b"], "points": {"a": 7, "b": 3}},
                       {"proposer": "c", "void": "labeler failed"}],
    }
    assert rules.round_score(results) == Rs({"a": 7, "b": 3, "c": 0}, [
        Cs("a", ["b"], {"a": 7, "b": 3}, m=2),
        Cs("c", [], {}, m=2, void="labeler failed")])
    assert rules.round_score({}) == Rs({}, [])
    one = rules.round_score({"teams": ["a"], "challenges": [{"proposer": "a"}]})
    assert one.challenges == [Cs("a", [], {}, m=0)]
    assert rules.round_score({"challenges": [{"proposer": "a"}]}).challenges[0].m == 0


# -- rulebook ----------------------------------------------------------------------------------


def test_default_rulebook_values() -> None:
    assert Rulebook().as_dict() == {
        "threshold": 0.99, "kl_threshold": 0.1, "beat_model": 0.5,
        "points": {"proposer_unique": 4, "proposer_some": 2, "solver": 3},
        "accuracy_tolerance": 0.02, "max_model_bytes": 67108864, "max_program_bytes": 262144,
        "replay": {"cpu_seconds": 20.0, "wall_seconds": 30.0, "memory_mb": 2048,
                   "output_bytes": 65536, "batch_size": 4096, "isolation": "full"},
        "rounds": {"proposers": "all", "per_round": 1},
        "domains": {"max_elements": 100_000_000, "max_sequence_length": 4096,
                    "max_dataset_bytes": 512 << 20},
        "require_explanation": False,
        "explanations": {"max_markdown_bytes": 1 << 20, "max_notebook_bytes": 8 << 20}}
    assert rulebook.from_dict({}) == Rulebook()
    assert rulebook.parse_text("") == Rulebook()


# every field, read from its own section and key
FIELDS: list[tuple[str, str, Any, Any]] = [
    ("solve", "threshold", 0.5, lambda b: b.threshold),
    ("solve", "beat_model", 0.25, lambda b: b.beat_model),
    ("points", "proposer_unique", 9, lambda b: b.points.proposer_unique),
    ("points", "proposer_some", 1, lambda b: b.points.proposer_some),
    ("points", "solver", 8, lambda b: b.points.solver),
    ("claims", "accuracy_tolerance", 0.5, lambda b: b.accuracy_tolerance),
    ("limits", "max_model_bytes", 123, lambda b: b.max_model_bytes),
    ("limits", "max_program_bytes", 456, lambda b: b.max_program_bytes),
    ("replay", "cpu_seconds", 1.5, lambda b: b.replay.cpu_seconds),
    ("replay", "wall_seconds", 2.5, lambda b: b.replay.wall_seconds),
    ("replay", "memory_mb", 64, lambda b: b.replay.memory_mb),
    ("replay", "output_bytes", 77, lambda b: b.replay.output_bytes),
    ("replay", "batch_size", 16, lambda b: b.replay.batch_size),
    ("replay", "isolation", "none", lambda b: b.replay.isolation),
    ("rounds", "proposers", "rotate", lambda b: b.rounds.proposers),
    ("rounds", "per_round", 3, lambda b: b.rounds.per_round),
    ("domains", "max_elements", 1000, lambda b: b.domains.max_elements),
    ("domains", "max_sequence_length", 12, lambda b: b.domains.max_sequence_length),
    ("domains", "max_dataset_bytes", 4096, lambda b: b.domains.max_dataset_bytes),
]


@pytest.mark.parametrize(("section", "key", "value", "get"), FIELDS,
                         ids=[f"{s}.{k}" for s, k, _, _ in FIELDS])
def test_each_field_is_read_from_its_place(section: str, key: str, value: Any, get: Any) -> None:
    book = rulebook.from_dict({section: {key: value}})
    assert get(book) == value
    # nothing else moved
    others = {(s, k) for s, k, _, _ in FIELDS} - {(section, key)}
    default = Rulebook()
    for s, k, _v, g in FIELDS:
        if (s, k) in others:
            assert g(book) == g(default), f"{s}.{k} changed"
    # and it round-trips through the record a closed round keeps
    assert rulebook.from_record(book.as_dict()) == book


@pytest.mark.parametrize(("text", "message"), [
    ("[solve]\nthreshold = 1\n", None),                   # an int where a float goes: fine
    ("[replay]\ncpu_seconds = 3\n", None),
    ("[solve]\nthreshold = true\n", "rules.toml: solve.threshold must be a float, got True"),
    ("[solve]\nthreshold = 'high'\n", "rules.toml: solve.threshold must be a float, got 'high'"),
    ("[points]\nsolver = 1.5\n", "rules.toml: points.solver must be a int, got 1.5"),
    ("[points]\nsolver = true\n", "rules.toml: points.solver must be a int, got True"),
    ("[replay]\nisolation = 1\n", "rules.toml: replay.isolation must be a str, got 1"),
    ("points = 3\n", "rules.toml: [points] must be a table"),
    ("solve = 3\n", "rules.toml: [solve] must be a table"),
    ("replay = [1]\n", "rules.toml: [replay] must be a table"),
    ("[domains]\nmax_elements = 1.5\n", "rules.toml: domains.max_elements must be a int, got 1.5"),
    ("[domains]\nmax_sequence_length = true\n",
     "rules.toml: domains.max_sequence_length must be a int, got True"),
    ("[domains]\nmax_dataset_bytes = '1M'\n",
     "rules.toml: domains.max_dataset_bytes must be a int, got '1M'"),
    ("domains = 3\n", "rules.toml: [domains] must be a table"),
    # a typo must not leave a cap at its ceiling unnoticed
    ("[domains]\nmax_element = 10\n", "rules.toml: [domains] has no key 'max_element' "
     "(known: max_elements, max_sequence_length, max_dataset_bytes)"),
])
def test_field_types(text: str, message: str | None) -> None:
    if message is None:
        book = rulebook.parse_text(text)
        assert isinstance(book.threshold, float) and isinstance(book.replay.cpu_seconds, float)
        return
    with pytest.raises(RulesError) as err:
        rulebook.parse_text(text)
    assert str(err.value) == message


THRESHOLD = "rules.toml: solve.threshold must be in (0, 1]"
BEAT = ("rules.toml: solve.beat_model must be in [0, 1] (the share of the model's error a "
        "solving program may keep)")
PROPOSER = ("rules.toml: need 0 <= points.proposer_some < points.proposer_unique (Dixit: the "
            "proposer scores most when exactly one team solves)")
SOLVER = "rules.toml: points.solver must be >= 0"
TOLERANCE = "rules.toml: claims.accuracy_tolerance must be in [0, 1]"
LIMITS = "rules.toml: limits must be positive"
REPLAY = "rules.toml: replay limits must be positive"
ISOLATION = 'rules.toml: replay.isolation must be "full", "partial" or "none"'


def _cap(key: str, ceiling: int) -> str:
    return (f"rules.toml: domains.{key} must be in [1, {ceiling:,}] (the most the closer can "
            "hold of a domain outside the sandbox)")


ELEMENTS = _cap("max_elements", 100_000_000)
LENGTH = _cap("max_sequence_length", 4096)
DATA = _cap("max_dataset_bytes", 512 << 20)


@pytest.mark.parametrize(("section", "values", "message"), [
    ("solve", {"threshold": 1.0}, None),
    ("solve", {"threshold": 1e-9}, None),
    ("solve", {"threshold": 0.0}, THRESHOLD),
    ("solve", {"threshold": -0.5}, THRESHOLD),
    ("solve", {"threshold": 1.0000001}, THRESHOLD),
    ("solve", {"beat_model": 0.0}, None),
    ("solve", {"beat_model": 1.0}, None),
    ("solve", {"beat_model": -0.01}, BEAT),
    ("solve", {"beat_model": 1.01}, BEAT),
    ("points", {"proposer_unique": 4, "proposer_some": 3}, None),
    ("points", {"proposer_unique": 4, "proposer_some": 0}, None),
    ("points", {"proposer_unique": 4, "proposer_some": 4}, PROPOSER),
    ("points", {"proposer_unique": 4, "proposer_some": 5}, PROPOSER),
    ("points", {"proposer_unique": 4, "proposer_some": -1}, PROPOSER),
    ("points", {"proposer_unique": 0, "proposer_some": 0}, PROPOSER),
    ("points", {"solver": 0}, None),
    ("points", {"solver": -1}, SOLVER),
    ("claims", {"accuracy_tolerance": 0.0}, None),
    ("claims", {"accuracy_tolerance": 1.0}, None),
    ("claims", {"accuracy_tolerance": -0.01}, TOLERANCE),
    ("claims", {"accuracy_tolerance": 1.01}, TOLERANCE),
    ("limits", {"max_model_bytes": 1, "max_program_bytes": 1}, None),
    ("limits", {"max_model_bytes": 0}, LIMITS),
    ("limits", {"max_program_bytes": 0}, LIMITS),
    ("limits", {"max_model_bytes": -1}, LIMITS),
    ("replay", {"cpu_seconds": 0.001, "wall_seconds": 0.001, "memory_mb": 1, "batch_size": 1},
     None),
    ("replay", {"cpu_seconds": 0.0}, REPLAY),
    ("replay", {"wall_seconds": 0.0}, REPLAY),
    ("replay", {"memory_mb": 0}, REPLAY),
    ("replay", {"batch_size": 0}, REPLAY),
    ("replay", {"cpu_seconds": -1.0}, REPLAY),
    ("replay", {"isolation": "full"}, None),
    ("replay", {"isolation": "partial"}, None),
    ("replay", {"isolation": "none"}, None),
    ("replay", {"isolation": "Full"}, ISOLATION),
    ("replay", {"isolation": "weak"}, ISOLATION),
    # the caps may be lowered to 1, never raised past the ceilings (also the defaults)
    ("domains", {"max_elements": 1, "max_sequence_length": 1, "max_dataset_bytes": 1}, None),
    ("domains", {"max_elements": 100_000_000, "max_sequence_length": 4096,
                 "max_dataset_bytes": 512 << 20}, None),
    ("domains", {"max_elements": 0}, ELEMENTS),
    ("domains", {"max_elements": 100_000_001}, ELEMENTS),
    ("domains", {"max_sequence_length": 0}, LENGTH),
    ("domains", {"max_sequence_length": 4097}, LENGTH),
    ("domains", {"max_dataset_bytes": 0}, DATA),
    ("domains", {"max_dataset_bytes": (512 << 20) + 1}, DATA),
    ("domains", {"max_elements": -5}, ELEMENTS),
])
def test_limits_at_their_boundaries(section: str, values: dict[str, Any],
                                    message: str | None) -> None:
    if message is None:
        rulebook.from_dict({section: values})
        rulebook.validate(_book(section, values))
        return
    with pytest.raises(RulesError) as err:
        rulebook.from_dict({section: values})
    assert str(err.value) == message
    with pytest.raises(RulesError) as err:  # validate() refuses the same book, however made
        rulebook.validate(_book(section, values))
    assert str(err.value) == message


def _book(section: str, values: dict[str, Any]) -> Rulebook:
    d = Rulebook()
    if section == "solve":
        return Rulebook(**values)
    if section == "points":
        return Rulebook(points=Points(**{**asdict(d.points), **values}))
    if section == "claims":
        return Rulebook(accuracy_tolerance=values["accuracy_tolerance"])
    if section == "limits":
        return Rulebook(**{**{"max_model_bytes": d.max_model_bytes,
                              "max_program_bytes": d.max_program_bytes}, **values})
    if section == "domains":
        return Rulebook(domains=DomainRules(**{**asdict(d.domains), **values}))
    return Rulebook(replay=ReplayRules(**{**asdict(d.replay), **values}))


def test_from_record() -> None:
    book = Rulebook(threshold=0.5, points=Points(9, 1, 2), accuracy_tolerance=0.1,
                    max_model_bytes=10, max_program_bytes=20,
                    replay=ReplayRules(1.0, 2.0, 3, 4, 5, "none"),
                    domains=DomainRules(6, 7, 8))
    assert rulebook.from_record(book.as_dict()) == book
    incomplete = book.as_dict()
    del incomplete["threshold"]
    with pytest.raises(RulesError) as err:  # a record names every rule it was scored with
        rulebook.from_record(incomplete)
    assert str(err.value) == "rules.toml: solve.threshold must be a float, got None"
    bad = {**book.as_dict(), "threshold": 2.0}
    with pytest.raises(RulesError, match=r"solve.threshold must be in \(0, 1\]"):
        rulebook.from_record(bad)


def test_from_record_without_points_or_replay_tables() -> None:
    """A record that has no [points] or [replay] table (an older one) reads their defaults."""
    record = Rulebook(threshold=0.5).as_dict()
    del record["points"], record["replay"]
    assert rulebook.from_record(record) == Rulebook(threshold=0.5)


def test_from_record_before_beat_model_existed() -> None:
    """A round closed before beat-the-model recorded no beat_model: judged by the threshold."""
    record = Rulebook().as_dict()
    del record["beat_model"]
    assert rulebook.from_record(record) == Rulebook(beat_model=None)


def test_from_record_before_domains_existed() -> None:
    """A round closed before the rulebook had [domains] recorded none: its domains were held
    to the ceilings, which the defaults are."""
    record = Rulebook(threshold=0.5, domains=DomainRules(6, 7, 8)).as_dict()
    del record["domains"]
    assert rulebook.from_record(record) == Rulebook(threshold=0.5)
    with pytest.raises(RulesError) as err:  # a recorded [domains] is validated like any
        rulebook.from_record({**record, "domains": {"max_elements": 0}})
    assert str(err.value) == ELEMENTS


def test_parse_text_names_its_source() -> None:
    with pytest.raises(RulesError) as err:
        rulebook.parse_text("[points\n", "scoring/rules.toml")
    assert str(err.value).startswith("scoring/rules.toml is not valid TOML: ")
    with pytest.raises(RulesError) as err:
        rulebook.parse_text("[points\n")
    assert str(err.value).startswith("rules.toml is not valid TOML: ")


def test_default_rules_text_is_the_default_rulebook() -> None:
    assert rulebook.parse_text(rulebook.DEFAULT_RULES_TOML) == Rulebook()


# -- kinds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fields", "model_can_solve"), [
    ("labeler", ("labeler", "labeler.py", ".py", True, "labeler", True, "program"), True),
    ("emulate", ("emulate", "labeler.py", ".py", True, "model", False, "program"), False),
    ("flag", ("flag", "flag.txt", ".txt", False, "flag", True, "flag guess"), False),
])
def test_kinds(name: str, fields: tuple[Any, ...], model_can_solve: bool) -> None:
    kind = kinds.get(name)
    assert (kind.name, kind.secret_file, kind.suffix, kind.replayed, kind.reference,
            kind.secret_required, kind.submission) == fields
    assert kind.model_can_solve is model_can_solve
    assert kind.summary


def test_kind_names() -> None:
    assert list(kinds.KINDS) == ["labeler", "emulate", "flag"]
    assert kinds.DEFAULT == "labeler"


@pytest.mark.parametrize("name", ["", "Labeler", "labelers", "program"])
def test_unknown_kind(name: str) -> None:
    with pytest.raises(ChallengeError) as err:
        kinds.get(name)
    assert str(err.value) == (f"unknown challenge kind {name!r}; choose one of labeler, "
                              "emulate, flag")


# -- flags -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "normal"), [
    ("Bright Corner", "bright corner"),
    ("  bright\t\tcorner \n", "bright corner"),
    ("ＢＲＩＧＨＴ", "bright"),          # full-width: NFKC
    ("Straße", "strasse"),              # casefold, not lower
    ("ﬁne", "fine"),                    # ligature: NFKC
    ("a.b,c!", "a.b,c!"),               # punctuation counts
    ("x\u00a0y", "x y"),                # no-break space is whitespace after NFKC
    ("", ""),
    (" \t\n", ""),
])
def test_normalize_flag(text: str, normal: str) -> None:
    assert flags.normalize_flag(text) == normal


@pytest.mark.parametrize(("text", "message"), [
    ("x", None),
    ("x" * 256, None),
    ("  " + "x" * 256 + "  ", None),    # counted once normalized
    ("x" * 257, "the flag must be 1 to 256 characters once normalized (it is 257)"),
    ("", "the flag must be 1 to 256 characters once normalized (it is 0)"),
    (" \t ", "the flag must be 1 to 256 characters once normalized (it is 0)"),
    ("a\x00b", "the flag must not contain NUL characters"),
])
def test_check_flag(text: str, message: str | None) -> None:
    if message is None:
        assert flags.check_flag(text) == text  # given back as written, not normalized
        return
    with pytest.raises(ChallengeError) as err:
        flags.check_flag(text)
    assert str(err.value) == message


@pytest.mark.parametrize(("secret", "guess", "match"), [
    (b"Bright corner", b"  bright\tCORNER\n", True),
    (b"Bright corner", b"bright corners", False),
    ("Straße".encode(), b"STRASSE", True),
    (b"abc", b"abd", False),
    (b"", b"", True),
    (b"\xff", b"\xff", False),          # not UTF-8: never matches, not even itself
    (b"abc", b"\xffabc", False),
    (b"\xffabc", b"abc", False),
    (b"abc", b"abc\xff", False),
])
def test_flag_matches(secret: bytes, guess: bytes, match: bool) -> None:
    assert flags.flag_matches(secret, guess) is match
    assert flags.flag_agreement(secret, guess) == (1.0 if match else 0.0)


def test_explanation_formats_and_sizes() -> None:
    from dixit.rules import explanations as ex

    assert [ex.format_of(n) for n in ("a.md", "A.MD", "b.ipynb", "c.txt", "md", "d.md.txt")] == \
        ["md", "md", "ipynb", None, None, None]
    caps = ex.ExplanationRules(max_markdown_bytes=5, max_notebook_bytes=7)
    assert ex.check_size(caps, "md", 5) is None and ex.check_size(caps, "ipynb", 7) is None
    assert ex.check_size(caps, "md", 0) == "the explanation is empty"
    assert ex.check_size(caps, "md", 6) == ("the explanation is 6 bytes, over the rulebook's "
                                            "limit of 5 for a Markdown "
                                            "(explanations.max_markdown_bytes)")
    assert ex.check_size(caps, "ipynb", 8) == ("the explanation is 8 bytes, over the "
                                               "rulebook's limit of 7 for a notebook "
                                               "(explanations.max_notebook_bytes)")
    assert ex.check_size(caps, "txt", 1) == "an explanation's format is md or ipynb, not 'txt'"
    assert ex.CEILING == ex.ExplanationRules(1 << 20, 8 << 20)
    assert ex.from_table({}) == ex.CEILING
    ex.validate(ex.ExplanationRules(1, 1))
    ex.validate(ex.CEILING)
