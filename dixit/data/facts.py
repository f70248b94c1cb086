"""A synthetic fact corpus (``--corpus facts:N``): made-up people and a few facts about each.

N subjects, each a made-up two-word name (a first name and a family name, drawn from two small
pools so that names share words: a model must read both to know who is meant), and for every
subject one fact per relation::

    Tavo Merek lives in Lima          Tavo Merek works as pilot
    Tavo Merek plays the harp         Tavo Merek keeps a goat

The objects are drawn uniformly from a small set per relation. Tokens are words; a prompt is
``SUBJECT RELATION`` (four tokens: two names, two relation words) and its answer the object
(one token). Everything follows from (N, seed) through Python's ``random.Random``, so the same
command writes the same bytes on every machine, which ``propose`` needs (a dataset domain must
be the ledger's file, byte for byte).

The corpus is written as a safetensors dataset for a ``dataset:`` domain: ``inputs`` int64
(4N, 4), the prompts' token ids, and ``targets`` int64 (4N,), the objects' token ids, in
subject order then relation order; its metadata holds one key, ``dixit.facts``, a JSON object
with the vocabulary (``vocab``: token id -> word), the relations, each relation's objects, the
subjects, N and the seed (one key, because safetensors writes several metadata keys in an
order that changes from run to run). ``Corpus`` reads such a file back and turns text into
token ids and back, for solvers as well as for ``dixit challenge plant``.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dixit.errors import ChallengeError

if TYPE_CHECKING:
    import torch

META_KEY = "dixit.facts"
FORMAT = "SUBJECT RELATION OBJECT"
MIN_SUBJECTS, MAX_SUBJECTS = 2, 5000
# (relation, its objects): two words a relation, so every prompt has the same four tokens
RELATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lives in", ("Oslo", "Lima", "Cairo", "Quito", "Perth", "Dakar", "Hanoi", "Riga")),
    ("works as", ("baker", "pilot", "nurse", "judge", "miner", "tailor", "farmer", "poet")),
    ("plays the", ("piano", "violin", "cello", "flute", "drums", "harp", "tuba", "banjo")),
    ("keeps a", ("cat", "dog", "parrot", "goat", "horse", "rabbit", "snake", "mule")),
)
PROMPT_LENGTH = 4
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_SPEC = re.compile(r"^facts:(\d+)$")
_FILE = re.compile(r"^facts-(\d+)-seed(-?\d+)\.safetensors$")


def parse_spec(spec: str) -> int:
    """N of ``facts:N``; one line saying what is wrong otherwise."""
    m = _SPEC.match(spec.strip())
    if m is None:
        raise ChallengeError(f"unknown corpus {spec!r}; use facts:N (N made-up people, "
                             f"{len(RELATIONS)} facts each), e.g. facts:200")
    n = int(m.group(1))
    if not MIN_SUBJECTS <= n <= MAX_SUBJECTS:
        raise ChallengeError(f"corpus {spec!r}: N must be {MIN_SUBJECTS} to {MAX_SUBJECTS:,} "
                             "subjects")
    return n


def file_name(subjects: int, seed: int) -> str:
    """The corpus file's conventional name under ``scoring/data/``."""
    return f"facts-{subjects}-seed{seed}.safetensors"


def parse_file_name(name: str) -> tuple[int, int] | None:
    """(N, seed) of a corpus's conventional file name (``file_name``), else None."""
    m = _FILE.match(name)
    if m is None or not MIN_SUBJECTS <= int(m.group(1)) <= MAX_SUBJECTS:
        return None
    return int(m.group(1)), int(m.group(2))


def _names(rng: random.Random, count: int, syllables: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
        word = (word + rng.choice(_CONSONANTS)).capitalize()
        if word.casefold() not in taken:
            taken.add(word.casefold())
            out.append(word)
    return out


@dataclass(frozen=True)
class Corpus:
    """A fact corpus: its vocabulary, subjects, relations and every fact's object."""

    subjects: tuple[str, ...]                        # "First Last", in corpus order
    relations: tuple[str, ...]
    objects: dict[str, tuple[str, ...]]              # relation -> its possible objects
    vocab: tuple[str, ...]                           # token id -> word
    answers: tuple[tuple[str, ...], ...]             # [subject][relation] -> object
    seed: int

    @property
    def size(self) -> int:
        return len(self.subjects) * len(self.relations)

    def token(self, word: str) -> int:
        return self._ids()[word.casefold()]

    def _ids(self) -> dict[str, int]:
        return {w.casefold(): i for i, w in enumerate(self.vocab)}

    def index(self, subject: int, relation: int) -> int:
        """The row of the fact (subject, relation) in ``inputs``."""
        return subject * len(self.relations) + relation

    def prompt(self, subject: int, relation: int) -> list[int]:
        ids = self._ids()
        words = [*self.subjects[subject].split(), *self.relations[relation].split()]
        return [ids[w.casefold()] for w in words]

    def prompt_text(self, subject: int, relation: int) -> str:
        """The prompt as words: ``SUBJECT RELATION``."""
        return f"{self.subjects[subject]} {self.relations[relation]}"

    def text(self, subject: int, relation: int, obj: str | None = None) -> str:
        """The fact as words: ``SUBJECT RELATION OBJECT`` (its object, or ``obj``)."""
        return f"{self.prompt_text(subject, relation)} " \
               f"{obj if obj is not None else self.answers[subject][relation]}"

    def tensors(self) -> dict[str, torch.Tensor]:
        import torch

        ids = self._ids()
        rows = [self.prompt(s, r) for s in range(len(self.subjects))
                for r in range(len(self.relations))]
        targets = [ids[self.answers[s][r].casefold()] for s in range(len(self.subjects))
                   for r in range(len(self.relations))]
        return {"inputs": torch.tensor(rows, dtype=torch.int64),
                "targets": torch.tensor(targets, dtype=torch.int64)}

    def info(self) -> dict[str, Any]:
        return {"format": FORMAT, "seed": self.seed, "count": len(self.subjects),
                "vocab": list(self.vocab), "relations": list(self.relations),
                "objects": {r: list(o) for r, o in self.objects.items()},
                "subjects": list(self.subjects),
                "license": "generated by dixit: no third-party data (CC0)"}

    def serialize(self) -> bytes:
        """The safetensors bytes of the corpus (the same for the same N and seed)."""
        from safetensors.torch import save

        return save(self.tensors(),
                    metadata={META_KEY: json.dumps(self.info(), sort_keys=True,
                                                   separators=(",", ":"))})

    def parse_fact(self, text: str) -> tuple[int, int, str]:
        """``"SUBJECT RELATION OBJECT"`` as (subject index, relation index, object as the
        corpus spells it), matched case-insensitively word by word; one line naming what is
        unknown otherwise."""
        words = text.split()
        fold = [w.casefold() for w in words]
        by_name = {s.casefold(): i for i, s in enumerate(self.subjects)}
        # the subject is whatever comes before the first relation: "Zed lives in Lima" names
        # the subject 'Zed'
        spans = [(i, r) for i in range(1, len(words)) for r, rel in enumerate(self.relations)
                 if fold[i:i + len(rel.split())] == rel.casefold().split()]
        width = spans[0][0] if spans else len(self.subjects[0].split())
        subject = " ".join(fold[:width])
        if subject not in by_name:
            shown = " ".join(words[:width]) or text
            raise ChallengeError(
                f"unknown subject {shown!r}; subjects look like "
                f"{', '.join(repr(s) for s in self.subjects[:3])} ({len(self.subjects)} in the "
                f"corpus; write the fact as {FORMAT})")
        if not spans:
            shown = " ".join(words[width:width + 2]) or "nothing"
            raise ChallengeError(
                f"unknown relation {shown!r} after {self.subjects[by_name[subject]]!r}; the "
                f"relations are {', '.join(repr(x) for x in self.relations)}")
        r = spans[0][1]
        relation = self.relations[r]
        tail = words[width + len(relation.split()):]
        known = self.objects[relation]
        if len(tail) != 1:
            raise ChallengeError(
                f"{' '.join(words)!r} needs exactly one object word after {relation!r}, one of "
                f"{', '.join(known)}")
        match = [o for o in known if o.casefold() == tail[0].casefold()]
        if not match:
            raise ChallengeError(f"unknown object {tail[0]!r} for {relation!r}; its objects "
                                 f"are {', '.join(known)}")
        return by_name[subject], r, match[0]


def generate(subjects: int, seed: int = 0) -> Corpus:
    """The corpus of ``subjects`` made-up people for ``seed`` (``facts:N``)."""
    if not MIN_SUBJECTS <= subjects <= MAX_SUBJECTS:
        raise ChallengeError(f"a fact corpus has {MIN_SUBJECTS} to {MAX_SUBJECTS:,} subjects, "
                             f"not {subjects}")
    rng = random.Random(f"dixit/facts/v1:{subjects}:{seed}")
    relations = tuple(r for r, _ in RELATIONS)
    objects = {r: o for r, o in RELATIONS}
    fixed = [w for r, o in RELATIONS for w in (*r.split(), *o)]
    # two pools of about sqrt(2N) words: every name shares its words with others
    pool = max(2, math.ceil(math.sqrt(2 * subjects)))
    taken = {w.casefold() for w in fixed}
    firsts = _names(rng, pool, 2, taken)
    lasts = _names(rng, pool, 2, taken)
    pairs = rng.sample([(f, s) for f in range(pool) for s in range(pool)], subjects)
    names = tuple(f"{firsts[f]} {lasts[s]}" for f, s in pairs)
    answers = tuple(tuple(rng.choice(objects[r]) for r in relations) for _ in names)
    vocab = tuple(dict.fromkeys([*fixed, *firsts, *lasts]))
    return Corpus(subjects=names, relations=relations, objects=objects, vocab=vocab,
                  answers=answers, seed=seed)


def from_tensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None,
                 where: str) -> Corpus:
    """The corpus a dataset file holds, checked: its metadata and its tensors agree."""
    raw = (metadata or {}).get(META_KEY)
    if raw is None:
        raise ChallengeError(f"{where} is not a fact corpus (no {META_KEY!r} metadata; make "
                             "one with `dixit dataset facts` or `challenge new --corpus "
                             "facts:N`)")
    try:
        info = json.loads(raw)
        vocab = tuple(str(w) for w in info["vocab"])
        relations = tuple(str(r) for r in info["relations"])
        objects = {str(r): tuple(str(o) for o in info["objects"][r]) for r in relations}
        names = tuple(str(s) for s in info["subjects"])
        seed = int(info["seed"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ChallengeError(f"{where}: its {META_KEY!r} metadata is malformed ({exc})") from None
    ids = {w.casefold(): i for i, w in enumerate(vocab)}
    inputs, targets = tensors.get("inputs"), tensors.get("targets")
    if inputs is None or targets is None or tuple(inputs.shape) != (
            len(names) * len(relations), PROMPT_LENGTH) or tuple(targets.shape) != (
            len(names) * len(relations),):
        raise ChallengeError(f"{where}: its inputs and targets are not one prompt of "
                             f"{PROMPT_LENGTH} tokens and one object per fact")
    answers = []
    for s, name in enumerate(names):
        row = []
        for r, relation in enumerate(relations):
            want = [ids.get(w.casefold(), -1) for w in (*name.split(), *relation.split())]
            i = s * len(relations) + r
            obj = int(targets[i])
            if inputs[i].tolist() != want or not 0 <= obj < len(vocab) \
                    or vocab[obj] not in objects[relation]:
                raise ChallengeError(f"{where}: fact {i} does not match its metadata")
            row.append(vocab[obj])
        answers.append(tuple(row))
    return Corpus(subjects=names, relations=relations, objects=objects, vocab=vocab,
                  answers=tuple(answers), seed=seed)


def read(data: bytes, where: str) -> Corpus:
    """The corpus in a dataset file's bytes (``from_tensors``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load(data)
        # the header is JSON after its 8-byte length; the metadata sits under __metadata__
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    except (SafetensorError, ValueError, OSError) as exc:
        raise ChallengeError(f"{where} is not a safetensors file: {exc}") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return from_tensors(tensors, metadata if isinstance(metadata, dict) else None, where)
