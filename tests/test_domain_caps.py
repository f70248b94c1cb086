"""The rulebook's [domains] caps: a domain the closer cannot hold is refused at propose and by
`dixit validate`, and void at the close (the round still closes); verify re-derives all of it
with the caps the round recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from dixit.data import domains
from dixit.errors import ChallengeError
from dixit.rules.domain_caps import CEILING, DomainRules
from tests.conftest import EXAMPLES, League, Runner, git, ledger_fingerprint, propose_small

CAPS = DomainRules(max_elements=1000, max_sequence_length=8, max_dataset_bytes=2048)
DATA = "scoring/data/x.safetensors"


def _over(what: str, cap: int, key: str) -> str:
    return f"{what}, over the rulebook's limit of {cap:,} (domains.{key})"


@pytest.mark.parametrize(("spec", "caps", "message"), [
    ("grid:500x1", CAPS, None),                       # 1,000 numbers: at the cap
    ("grid:5x5x13", CAPS, None),                     # 975 numbers, 3 coordinates a point
    ("grid:7x7x7", CAPS, _over("grid domain 'grid:7x7x7' holds 1,029 numbers (points x "
                               "coordinates)", 1000, "max_elements")),
    ("grid:23x22", CAPS, _over("grid domain 'grid:23x22' holds 1,012 numbers (points x "
                               "coordinates)", 1000, "max_elements")),
    ("grid:113x113", CEILING, None),
    ("grid:10000x10000", CEILING, _over("grid domain 'grid:10000x10000' holds 200,000,000 "
                                        "numbers (points x coordinates)", 100_000_000,
                                        "max_elements")),
    ("grid:0x5", CAPS, "grid domain 'grid:0x5': every side must be >= 1"),
    ("tokens:5x8:125", CAPS, None),                   # 1,000 tokens: at the cap
    ("tokens:5x8:126", CAPS, _over("tokens domain 'tokens:5x8:126' holds 1,008 tokens "
                                   "(sequences x length)", 1000, "max_elements")),
    ("tokens:2x9:10", CAPS, _over("tokens domain 'tokens:2x9:10' has 9 tokens a sequence", 8,
                                  "max_sequence_length")),
    ("tokens:1001x1:5", CAPS, _over("tokens domain 'tokens:1001x1:5' has a vocabulary of "
                                    "1,001", 1000, "max_elements")),
    ("tokens:3x4", CAPS, None),                       # 81 sequences of 4
    ("tokens:6x4", CAPS, _over("tokens domain 'tokens:6x4' holds 5,184 tokens (sequences x "
                               "length)", 1000, "max_elements")),
    # the red team's: the engine, outside the sandbox, would have allocated 800 GB
    ("tokens:2x100000:1000000", CEILING, _over("tokens domain 'tokens:2x100000:1000000' has "
                                               "100,000 tokens a sequence", 4096,
                                               "max_sequence_length")),
    ("tokens:2x4096:24414", CEILING, None),
    ("tokens:2x4096:24415", CEILING, _over("tokens domain 'tokens:2x4096:24415' holds "
                                           "100,003,840 tokens (sequences x length)",
                                           100_000_000, "max_elements")),
    ("tokens:5x16:0", CEILING, "tokens domain 'tokens:5x16:0': sample size out of range (1 to "
                               "50,000,000)"),
    ("tokens:5x16", CEILING, "tokens domain 'tokens:5x16' has 5^16 sequences; add a sample "
                             "size, e.g. tokens:5x16:100000"),
    ("tokens:0x3", CEILING, "tokens domain 'tokens:0x3': vocabulary and length must be >= 1"),
    ("dataset:data/x.safetensors", CEILING, "dataset data/x.safetensors must be under "
                                            "scoring/data/, where the organizer commits shared "
                                            "evaluation data"),
    ("dataset:scoring/data/../../x.safetensors", CEILING,
     "dataset path in 'dataset:scoring/data/../../x.safetensors' must be relative, without '..'"),
    ("mnist", CEILING, "unknown domain 'mnist'; use grid:PxQ, tokens:VOCABxLEN[:N] or "
                       "dataset:PATH.safetensors"),
])
def test_check_spec(spec: str, caps: DomainRules, message: str | None) -> None:
    if message is None:
        assert domains.check_spec(spec, caps) is None
        assert domains.parse(spec, caps=caps).spec == spec  # parse checks the same
        return
    with pytest.raises(ChallengeError) as err:
        domains.check_spec(spec, caps)
    assert str(err.value) == message
    with pytest.raises(ChallengeError) as err:
        domains.parse(spec, caps=caps)
    assert str(err.value) == message


def test_check_spec_names_a_dataset_path() -> None:
    assert domains.check_spec(f"dataset:{DATA}") == Path(DATA)


def _dataset(shape: tuple[int, ...], name: str = "inputs", pad: int = 0) -> bytes:
    tensors = {name: np.zeros(shape, dtype=np.uint8)}
    if pad:
        tensors["padding"] = np.zeros((pad,), dtype=np.uint8)
    return save(tensors)


@pytest.mark.parametrize(("data", "message"), [
    (_dataset((10, 100)), None),                                  # 1,000 numbers: at the cap
    (_dataset((11, 100)), _over(f"dataset {DATA} holds 1,100 numbers in 'inputs'", 1000,
                                "max_elements")),
    (_dataset((4, 4), pad=2100), "SIZE"),
    (_dataset((4, 4), name="images"), f"dataset {DATA} is not a safetensors file with a tensor "
                                      "named 'inputs'"),
    (b"\xff" * 100, f"dataset {DATA} is not a safetensors file with a tensor named 'inputs'"),
    (b"\x02\x00\x00\x00\x00\x00\x00\x00[]", f"dataset {DATA} is not a safetensors file with a "
                                            "tensor named 'inputs'"),
    (b"", f"dataset {DATA} is not a safetensors file with a tensor named 'inputs'"),
])
def test_datasets_against_the_caps(tmp_path: Path, data: bytes, message: str | None) -> None:
    if message == "SIZE":
        message = _over(f"dataset {DATA} has {len(data):,} bytes", 2048, "max_dataset_bytes")
    (tmp_path / DATA).parent.mkdir(parents=True)
    (tmp_path / DATA).write_bytes(data)
    if message is None:
        domains.check_dataset(DATA, len(data), data, CAPS)
        assert domains.parse(f"dataset:{DATA}", root=tmp_path, caps=CAPS).size == 10
        return
    for check in (lambda: domains.check_dataset(DATA, len(data), data, CAPS),
                  lambda: domains.parse(f"dataset:{DATA}", root=tmp_path, caps=CAPS)):
        with pytest.raises(ChallengeError) as err:
            check()
        assert str(err.value) == message


# -- through the CLI and git --------------------------------------------------------------------

OVER = _over("tokens domain 'tokens:4x20:500' has 20 tokens a sequence", 16,
             "max_sequence_length")


def _tighten(league: League) -> None:
    """The organizer lowers [domains] max_sequence_length on main, to 16 tokens."""
    git(league.root, "pull", "-q")
    rules = league.root / "scoring/rules.toml"
    text = rules.read_text()
    assert "\nmax_sequence_length = 4096\n" in text  # `dixit init` wrote [domains]
    rules.write_text(text.replace("\nmax_sequence_length = 4096\n",
                                  "\nmax_sequence_length = 16\n"))
    git(league.root, "commit", "-qam", "rules: smaller domains")
    git(league.root, "push", "-q", "origin", "main")


def _challenge(league: League, dixit: Runner, team: str) -> Path:
    """A labeler on sequences of 20 tokens (within the ceilings)."""
    out, labeler = league.work / team, league.work / "parity.py"
    labeler.parent.mkdir(parents=True, exist_ok=True)
    labeler.write_text("def label(x):\n    return x.sum(dim=1) % 2\n")
    dixit.ok("challenge", "new", out, "--labeler", labeler, "--domain", "tokens:4x20:500",
             "--hidden", "8", "--steps", "10")
    return out


def test_propose_refuses_a_domain_over_the_rulebook(league: League, dixit: Runner) -> None:
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    _tighten(league)
    folder = _challenge(league, dixit, "alice")
    alice = league.clone("alice")
    git(alice, "pull", "-q")
    before = ledger_fingerprint(alice)
    res = dixit("-C", alice, "propose", "--team", "alice", folder)
    assert res.code == 1
    assert res.err.strip().splitlines() == [f"error: {OVER}"], res.err
    assert ledger_fingerprint(alice) == before


def test_validate_voids_and_verify_a_domain_over_the_rulebook(league: League, dixit: Runner,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """alice proposes under the old caps in her fork; the organizer lowers them on main before
    the pull request is checked: validate refuses it; merged anyway (an admin's slip), the
    close voids her challenge with the reason and still scores bob's; verify agrees."""
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    propose_small(league, dixit, "bob", steps=20)
    alice = league.clone("alice")
    git(alice, "pull", "-q")
    git(alice, "remote", "remove", "origin")  # a fork: the entry stays local, a pull request
    dixit.ok("-C", alice, "propose", "--team", "alice", _challenge(league, dixit, "alice"))
    git(alice, "remote", "add", "origin", str(league.bare))
    _tighten(league)
    git(alice, "fetch", "-q", "origin")
    res = dixit("-C", alice, "validate", "--base", "origin/main", "--json")
    assert res.code == 1
    assert res.json()["problems"] == [f"rounds/001/challenges/alice/challenge.toml: {OVER}"]

    git(alice, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    git(alice, "push", "-q", "origin", "HEAD:main")
    git(league.root, "pull", "-q")
    dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge", "bob",
             EXAMPLES / "programs" / "carol_for_bob.py")
    git(league.root, "pull", "-q")
    monkeypatch.setenv("DIXIT_NOW", "+3h")
    scored = dixit.ok("-C", league.root, "score", "--json").json()
    by = {c["proposer"]: c for c in scored["challenges"]}
    assert by["alice"]["void"] == f"domain unusable: {OVER}"
    assert by["bob"]["void"] is None and by["bob"]["submissions"][0]["agreement"] is not None
    assert scored["rules"]["domains"]["max_sequence_length"] == 16
    rep = dixit("-C", league.root, "verify", "--json")
    assert rep.code == 0, rep.out
    assert rep.json()["checked"]["rounds re-scored"] == 1


def test_the_closer_survives_what_a_ceiling_refuses() -> None:
    """No rulebook can raise a cap: the code's ceilings hold whatever the rules say."""
    assert (domains.MAX_ELEMENTS, domains.MAX_LENGTH, domains.MAX_DATASET_BYTES) == (
        CEILING.max_elements, CEILING.max_sequence_length, CEILING.max_dataset_bytes)
