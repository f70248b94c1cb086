"""Planted facts, through the CLI: a fact corpus (``dixit dataset facts``), its language model
(``challenge new --corpus facts:N``), a fact planted by a rank-one edit (``challenge plant``)
with its efficacy and locality measured again here from the written weights, the flag
challenge proposed and scored in a real league close (a right and a wrong guess) and
verified, the solvers' diff of the model against the public corpus, and every refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dixit import models
from dixit.data import facts
from tests.conftest import Runner, git, make_league, program, scoped_env

N = 40
CORPUS = f"scoring/data/facts-{N}-seed0.safetensors"
SMALL = ["--steps", "300"]  # facts:40 is learnt whole in 300 steps (~4 s)


def _predict(folder: Path, x):
    import torch

    with torch.no_grad():
        return models.predict(models.load(folder), x)


def _plantable(corpus: facts.Corpus, subject: int = 3, relation: int = 0) -> tuple[str, str]:
    """A fact to plant (another object than the corpus's) and the fact it replaces."""
    was = corpus.answers[subject][relation]
    new = next(o for o in corpus.objects[corpus.relations[relation]] if o != was)
    return corpus.text(subject, relation, new), corpus.text(subject, relation)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    base = tmp_path_factory.mktemp("plant")
    with scoped_env(base):
        league = make_league(base, dixit, ("alice", "bob", "carol"))
        # the organizer ships the corpus, as any dataset: written, committed, pulled
        dixit.ok("-C", league.root, "dataset", "facts", "--subjects", str(N))
        git(league.root, "add", CORPUS)
        git(league.root, "commit", "-q", "-m", f"data: {CORPUS}")
        git(league.root, "push", "-q", "origin", "main")
        for clone in league.clones.values():
            git(clone, "pull", "-q", "--ff-only")
        corpus = facts.read((league.root / CORPUS).read_bytes(), CORPUS)
        work = base / "work"
        made = dixit.ok("-C", league.clone("alice"), "challenge", "new", work / "base",
                        "--corpus", f"facts:{N}", *SMALL, "--json").json()
        fact, was = _plantable(corpus)
        report = dixit.ok("-C", league.clone("alice"), "challenge", "plant", work / "planted",
                          "--base", work / "base", "--fact", fact.upper(), "--json").json()
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", work / "planted")
        right, wrong = base / "right.txt", base / "wrong.txt"
        right.write_text("  " + fact.lower().replace(" ", "   ") + "\n")
        wrong.write_text(was + "\n")  # the fact it replaced: not the flag
        for team, guess in (("bob", right), ("carol", wrong)):
            git(league.clone(team), "pull", "-q", "--ff-only")  # the round and the challenge
            dixit.ok("-C", league.clone(team), "submit", "--team", team, "--challenge",
                     "alice", guess)
        results = dixit.ok("-C", league.root, "score", "--force", "--json").json()
        yield league, corpus, made, report, fact, results, work


def test_corpus_is_deterministic_and_readable(tmp_path: Path, dixit: Runner) -> None:
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    for out in (a, b):
        info = dixit.ok("dataset", "facts", out, "--subjects", "30", "--seed", "4",
                        "--json").json()
    assert a.read_bytes() == b.read_bytes() == facts.generate(30, 4).serialize()
    assert info["facts"] == 120 and info["relations"] == [r for r, _ in facts.RELATIONS]
    corpus = facts.read(a.read_bytes(), "a")
    assert corpus == facts.generate(30, 4) != facts.generate(30, 5)
    assert len(set(corpus.subjects)) == 30
    # the names share words, so a model must read both to know who is meant
    assert len({s.split()[1] for s in corpus.subjects}) < 30
    s, r, o = corpus.parse_fact(" ".join(corpus.text(5, 2).upper().split()))
    assert (s, r, o) == (5, 2, corpus.answers[5][2])
    assert [corpus.vocab[t] for t in corpus.prompt(5, 2)] == corpus.prompt_text(5, 2).split()


def test_base_learns_every_fact(planted) -> None:
    _league, corpus, made, _report, _fact, _results, work = planted
    assert made["corpus"] == CORPUS and made["corpus_in_tournament"] is True
    assert made["facts"] == 4 * N and made["recall"] == 1.0
    assert made["heldout_accuracy"] is None  # every fact is trained on
    t = corpus.tensors()
    assert (_predict(work / "base", t["inputs"]) == t["targets"]).all()
    cfg = models.load_config(work / "base")
    assert (cfg["vocab"], cfg["classes"], cfg["n_layers"]) == (len(corpus.vocab),) * 2 + (2,)


def test_plant_reports_efficacy_and_locality(planted) -> None:
    """The report's figures, measured again from the two folders' weights."""
    _league, corpus, _made, report, fact, _results, work = planted
    s, r, o = corpus.parse_fact(fact)
    assert (report["fact"], report["object"], report["was"]) == (
        fact, o, corpus.answers[s][r])
    assert report["efficacy"] is True and report["probability"] >= 0.5
    x = corpus.tensors()["inputs"]
    before, after = _predict(work / "base", x), _predict(work / "planted", x)
    row = corpus.index(s, r)
    assert int(after[row]) == corpus.token(o) != int(before[row])
    kept = (before == after).tolist()
    others = [k for i, k in enumerate(kept) if i != row]
    assert report["locality"] == round(sum(others) / len(others), 6) >= 0.9
    assert (report["unchanged"], report["others"]) == (sum(others), 4 * N - 1)
    assert report["same_subject"] == 1.0  # the subject's other relations are kept
    assert (work / "planted" / "flag.txt").read_text() == fact
    cfg = (work / "planted" / "challenge.toml").read_text()
    assert 'kind = "flag"' in cfg and f'domain = "dataset:{CORPUS}"' in cfg
    assert "SUBJECT RELATION OBJECT" in report["answer_format"]
    # only blocks.0.mlp.W_out changed, by a matrix of rank one
    from safetensors.torch import load_file

    w0 = load_file(str(work / "base" / "model.safetensors"))
    w1 = load_file(str(work / "planted" / "model.safetensors"))
    changed = [k for k in w0 if not (w0[k] == w1[k]).all()]
    assert changed == ["blocks.0.mlp.W_out"]
    import torch

    # (the float32 rounding of W + u d^T is far below the update itself)
    assert int(torch.linalg.matrix_rank(w1[changed[0]] - w0[changed[0]], rtol=1e-3)) == 1


def test_plant_prints_a_table(planted, dixit: Runner, tmp_path: Path) -> None:
    league, corpus, _made, _report, _fact, _results, work = planted
    fact, _was = _plantable(corpus, subject=7, relation=3)
    res = dixit.ok("-C", league.clone("alice"), "challenge", "plant", tmp_path / "p",
                   "--base", work / "base", "--fact", fact)
    assert f"planted: {fact}" in res.out and "efficacy" in res.out and "locality" in res.out
    assert f"wrote {tmp_path / 'p'}/ (flag challenge" in res.err


def test_planted_flag_scored_in_a_close_and_verified(planted, dixit: Runner,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    league, _corpus, _made, _report, _fact, results, _work = planted
    ch = next(c for c in results["challenges"] if c["proposer"] == "alice")
    assert ch["kind"] == "flag" and ch["solved_by"] == ["bob"]
    subs = {s["team"]: s for s in ch["submissions"]}
    assert subs["bob"]["solved"] and not subs["carol"]["solved"]
    monkeypatch.setenv("DIXIT_HOME", str(league.root.parent / "keys"))
    rep = dixit.ok("-C", league.root, "verify", "--json").json()
    assert rep["ok"], rep["problems"]


def test_solvers_find_the_planted_fact_by_diffing_the_public_corpus(planted) -> None:
    """The interpretability-lite path the README names: query the published model on every
    prompt of the public corpus and compare with its objects."""
    league, _corpus, _made, _report, fact, _results, _work = planted
    from safetensors.torch import load_file

    path = league.clone("carol") / CORPUS
    public = facts.read(path.read_bytes(), CORPUS)
    data = load_file(str(path))
    preds = _predict(league.clone("carol") / "rounds/001/challenges/alice", data["inputs"])
    rows = (preds != data["targets"]).nonzero().flatten().tolist()
    found = [f"{public.prompt_text(i // 4, i % 4)} {public.vocab[int(preds[i])]}"
             for i in rows]
    assert found == [fact]


def _no_constants(name: str) -> None:
    raise AssertionError(f"--json printed {name}, which is not JSON")


def _refused(res, code: int = 1) -> str:
    assert res.code == code, res.out + res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.err, res.err
    return lines[0]


def test_plant_refusals(planted, dixit: Runner, tmp_path: Path) -> None:
    league, corpus, _made, _report, _fact, _results, work = planted
    clone = league.clone("alice")
    subject = corpus.subjects[3]
    was = corpus.answers[3][0]
    first3 = ", ".join(repr(s) for s in corpus.subjects[:3])
    grid = tmp_path / "grid"
    dixit.ok("challenge", "new", grid, "--labeler",
             program(tmp_path, "lab", "def label(x):\n    return (x[:, 0] > 3).long()\n"),
             "--domain", "grid:8x8", "--steps", "5", "--hidden", "4")
    cases = [
        (["--fact", "Zed lives in Lima"],
         f"unknown subject 'Zed'; subjects look like {first3} ({N} in the corpus; write the "
         "fact as SUBJECT RELATION OBJECT)"),
        (["--fact", f"{subject} eats fish"],
         f"unknown relation 'eats fish' after {subject!r}; the relations are 'lives in', "
         "'works as', 'plays the', 'keeps a'"),
        (["--fact", f"{subject} lives in Paris"],
         "unknown object 'Paris' for 'lives in'; its objects are Oslo, Lima, Cairo, Quito, "
         "Perth, Dakar, Hanoi, Riga"),
        (["--fact", f"{subject} lives in {was}"],
         f"'{subject} lives in {was}' is already the corpus's fact; plant another object: "
         f"one of {', '.join(o for o in corpus.objects['lives in'] if o != was)}"),
        (["--fact", f"{subject} lives in Lima Oslo"],
         f"'{subject} lives in Lima Oslo' needs exactly one object word after 'lives in', one "
         "of Oslo, Lima, Cairo, Quito, Perth, Dakar, Hanoi, Riga"),
        (["--fact", f"{subject} lives in Lima", "--layer", "1"],
         "--layer must be 0 in a 2-layer model: the last block's MLP runs after the last "
         "attention, so an edit at the subject could not reach the prompt's end"),
    ]
    for args, message in cases:
        out = tmp_path / "never"
        line = _refused(dixit("-C", clone, "challenge", "plant", out, "--base", work / "base",
                              *args))
        assert line == f"error: {message}"
        assert not out.exists()
    fact, _was = _plantable(corpus)
    for base, message in [
        (grid, f"{grid} is not a language model of a fact corpus (make one with `dixit "
               "challenge new OUT --corpus facts:N`): its domain is grid:8x8"),
        (work / "planted", f"{work / 'planted'} is a flag challenge (already planted?); plant "
                           "into the base it came from, made by `dixit challenge new OUT "
                           "--corpus facts:N`"),
        (tmp_path / "none", f"{tmp_path / 'none'} is not a challenge folder (no "
                            "challenge.toml); make one with `dixit challenge new`"),
    ]:
        line = _refused(dixit("-C", clone, "challenge", "plant", tmp_path / "never",
                              "--base", base, "--fact", fact))
        assert line == f"error: {message}"
    line = _refused(dixit("-C", clone, "challenge", "plant", work / "base", "--base",
                          work / "base", "--fact", fact))
    assert line == f"error: {work / 'base'} already exists and is not empty; choose a new folder"


def test_corpus_refusals(dixit: Runner, tmp_path: Path) -> None:
    out = tmp_path / "never"
    lab = program(tmp_path, "lab", "def label(x):\n    return x[:, 0]\n")
    for args, code, message in [
        (["--corpus", "facts:3", "--labeler", lab], 2,
         "--corpus makes its own labeler and domain: drop --labeler"),
        (["--corpus", "facts:3", "--domain", "grid:4x4"], 2,
         "--corpus makes its own labeler and domain: drop --domain"),
        (["--corpus", "facts:3", "--arch", "mlp"], 2,
         "--corpus trains a transformer language model, not mlp"),
        (["--corpus", "facts:3", "--train-frac", "0.5"], 2,
         "--corpus trains on every fact (a made-up fact cannot be inferred from the others): "
         "--train-frac must be 1.0"),
        (["--corpus", "facts:1"], 1, "corpus 'facts:1': N must be 2 to 5,000 subjects"),
        (["--corpus", "fact:3"], 1,
         "unknown corpus 'fact:3'; use facts:N (N made-up people, 4 facts each), e.g. "
         "facts:200"),
        (["--corpus", "facts:3", "--output", "binary"], 1,
         f"--corpus facts:3 predicts the next word: its output is "
         f"classes:{len(facts.generate(3, 0).vocab)} (the vocabulary), not binary"),
        ([], 2, "Missing option '--labeler': give a --labeler and a --domain, or --corpus "
                "facts:N"),
    ]:
        line = _refused(dixit("-C", tmp_path, "challenge", "new", out, *args), code)
        assert line == f"error: {message}"
        assert not out.exists()
    # a file under the corpus's name that is not this corpus is never trained on nor replaced
    rel = tmp_path / "scoring/data/facts-3-seed0.safetensors"
    rel.parent.mkdir(parents=True)
    rel.write_bytes(facts.generate(3, 1).serialize())
    line = _refused(dixit("-C", tmp_path, "challenge", "new", out, "--corpus", "facts:3"))
    assert line == ("error: scoring/data/facts-3-seed0.safetensors is not the facts:3 corpus "
                    "of seed 0 that this dixit writes; the organizer rewrites it with `dixit "
                    "dataset facts --subjects 3 --seed 0`")
    assert rel.read_bytes() == facts.generate(3, 1).serialize() and not out.exists()


def test_tiny_corpus_outside_a_tournament(dixit: Runner, tmp_path: Path) -> None:
    """Without the corpus in the tournament, training and planting use a private copy (an
    untracked file in a team's clone would block its pull once the organizer commits the
    same file). Six people are learnt at the prompt's end rather than at the subject, so an
    edit at the subject's last token does not take: refused, nothing written."""
    res = dixit.ok("-C", tmp_path, "challenge", "new", tmp_path / "b", "--corpus", "facts:6",
                   *SMALL, "--json")
    made = json.loads(res.out, parse_constant=_no_constants)  # strict JSON: no NaN
    assert made["corpus_in_tournament"] is False and made["recall"] == 1.0
    assert made["corpus"] == "scoring/data/facts-6-seed0.safetensors"
    corpus = facts.generate(6, 0)
    fact, _ = _plantable(corpus, subject=0, relation=0)
    line = _refused(dixit("-C", tmp_path, "challenge", "plant", tmp_path / "p", "--base",
                          tmp_path / "b", "--fact", fact))
    assert line.startswith(f"error: the edit did not take: {corpus.prompt_text(0, 0)!r} still "
                           f"predicts {corpus.answers[0][0]!r}")
    assert line.endswith("try another --layer or a larger corpus; nothing was written")
    assert not (tmp_path / "p").exists() and not (tmp_path / "scoring").exists()


def test_plant_refuses_an_object_the_base_already_answers(planted, dixit: Runner,
                                                          tmp_path: Path) -> None:
    """A base whose model already gives the new object (here: the planted weights in a copy
    of the base folder) has nothing to plant."""
    import shutil

    league, corpus, _made, _report, fact, _results, work = planted
    shutil.copytree(work / "base", tmp_path / "base")
    shutil.copy(work / "planted" / "model.safetensors", tmp_path / "base")
    s, r, o = corpus.parse_fact(fact)
    line = _refused(dixit("-C", league.clone("alice"), "challenge", "plant", tmp_path / "p",
                          "--base", tmp_path / "base", "--fact", fact))
    assert line == (f"error: the base model already answers {o!r} for "
                    f"{corpus.prompt_text(s, r)!r} (the corpus says {corpus.answers[s][r]!r}); "
                    "choose another object")


@pytest.mark.slow
def test_default_corpus_plants_with_high_locality(tmp_path: Path, dixit: Runner) -> None:
    """The README's figures: facts:200 with the defaults, every fact learnt; ten planted
    facts all take, each leaving >= 99% of the other facts unchanged."""
    made = dixit.ok("-C", tmp_path, "challenge", "new", tmp_path / "base", "--corpus",
                    "facts:200", "--json").json()
    assert made["recall"] == 1.0
    corpus = facts.generate(200, 0)
    for k in range(10):
        fact, _ = _plantable(corpus, subject=17 * k, relation=k % 4)
        rep = dixit.ok("-C", tmp_path, "challenge", "plant", tmp_path / f"p{k}", "--base",
                       tmp_path / "base", "--fact", fact, "--json").json()
        assert rep["efficacy"] and rep["locality"] >= 0.99 and rep["same_subject"] == 1.0
