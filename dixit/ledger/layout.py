"""Every path of the ledger, in one place (NNN is the zero-padded round number).

    tournament.toml                                  organizer-signed identity and public keys
    teams/<team>.toml                                organizer-signed team registration
    teams/<team>/key-NNN.toml                        organizer-signed key rotation (001, 002...)
    teams/<team>/removed.toml                        organizer-signed removal from the tournament
    scoring/rules.toml                               the rulebook
    rounds/NNN/round.toml                            organizer-signed deadlines
    rounds/NNN/challenges/<team>/challenge.toml      team-signed metadata, model config, seal
    rounds/NNN/challenges/<team>/model.safetensors   the public model
    rounds/NNN/challenges/<team>/labeler.escrow      the secret, encrypted to the closer
    rounds/NNN/challenges/<team>/heldout.escrow      a sealed held-out evaluation set, encrypted
                                                     to the closer (dataset: domains only)
    rounds/NNN/challenges/<team>/hint-image-N.png    a hint picture, published (hash signed)
    rounds/NNN/challenges/<team>/hint-N.escrow       a timed hint, encrypted to the closer
    rounds/NNN/submissions/<team>/<target>.toml      team-signed seal of a program
    rounds/NNN/submissions/<team>/<target>.escrow    the program, encrypted to the closer
    rounds/NNN/submissions/<team>/<target>.explanation.escrow
                                                     its explanation (sealed in the same entry),
                                                     encrypted to the closer
    rounds/NNN/reveals/<team>/<item>.toml            reveal record (salt), signed by team or closer
    rounds/NNN/reveals/<team>/<item>.py|.txt         the revealed secret, program or flag guess
    rounds/NNN/reveals/<team>/heldout.safetensors    the revealed held-out evaluation set
    rounds/NNN/reveals/<team>/<target>.explanation.toml|.md|.ipynb
                                                     a revealed explanation (item
                                                     "<target>.explanation")
    rounds/NNN/hints/<team>/hint-N.toml|.txt         a released timed hint (closer-signed)
    rounds/NNN/results.toml                          closer-signed results; the round is closed

Pure: names and patterns only, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TOURNAMENT = "tournament.toml"
RULES = "scoring/rules.toml"
ORGANIZER, CLOSER = "organizer", "closer"
LEDGER_FOLDERS = ("teams/", "rounds/", "scoring/")  # with TOURNAMENT: what the ledger is

# The reveal item of a challenge's own secret (whatever its kind). A submission's item is the
# target team's name. Its name on disk stays "labeler" (ledger format 1), which no team can
# take: a team name is a registered name and cannot be its own challenge's target.
SECRET_ITEM = "labeler"
# The reveal item of a challenge's sealed held-out evaluation set (a safetensors dataset the
# challenge is judged on at the close instead of its public dataset). Reserved like "labeler".
HELDOUT_ITEM = "heldout"
HELDOUT_FILE = f"{HELDOUT_ITEM}.safetensors"
# The reveal item of the explanation a team sealed with its program for a target is
# "<target>.explanation": no team name has a dot, so it is no program's, labeler's or
# held-out set's item, and its files sort beside the program's.
EXPLANATION = "explanation"

_NAME = r"[a-z0-9][a-z0-9_-]*"
_ROUND_PATH = re.compile(r"^rounds/(\d{3,})/(.+)$")

# Every file a round folder may hold (paths relative to rounds/NNN/).
ROUND_FILES = [
    re.compile(r"^round\.toml$"),
    re.compile(r"^results\.toml$"),
    re.compile(rf"^challenges/{_NAME}/(challenge\.toml|model\.safetensors|labeler\.escrow|"
               r"heldout\.escrow|"
               r"hint-image-[1-9][0-9]*\.png|hint-[1-9][0-9]*\.escrow)$"),
    re.compile(rf"^submissions/{_NAME}/{_NAME}\.(toml|escrow|explanation\.escrow)$"),
    re.compile(rf"^reveals/{_NAME}/{_NAME}\.(toml|py|txt)$"),
    re.compile(rf"^reveals/{_NAME}/{_NAME}\.explanation\.(toml|md|ipynb)$"),
    re.compile(rf"^reveals/{_NAME}/heldout\.safetensors$"),
    re.compile(rf"^hints/{_NAME}/hint-[1-9][0-9]*\.(toml|txt)$"),
]
# Every file of the team registry: a registration, and the team's rotations and removal.
_REGISTRY_FILE = re.compile(rf"^teams/({_NAME})(?:\.toml|/(?:key-\d{{3,}}|removed)\.toml)$")
# Files written once and never changed or deleted (a submission may be replaced until
# submit-by, so it is not here).
IMMUTABLE = re.compile(r"^(tournament\.toml|teams/[^/]+\.toml|teams/[^/]+/[^/]+\.toml|"
                       r"rounds/\d+/(round\.toml|results\.toml|challenges/.*|reveals/.*|"
                       r"hints/.*))$")
SUBMISSION_FILE = re.compile(r"^rounds/(\d+)/submissions/")
ROUND_FILE = re.compile(r"^rounds/(\d+)/")
RESULTS_FILE = re.compile(r"^rounds/(\d+)/results\.toml$")


def round_dir(number: int) -> str:
    return f"rounds/{number:03d}"


def round_entry(number: int) -> str:
    return f"{round_dir(number)}/round.toml"


def results_path(number: int) -> str:
    return f"{round_dir(number)}/results.toml"


def closed_tag(number: int) -> str:
    return f"round-{number:03d}-closed"


def challenge_dir(number: int, team: str) -> str:
    return f"{round_dir(number)}/challenges/{team}"


def challenge_entry(number: int, team: str) -> str:
    return f"{challenge_dir(number, team)}/challenge.toml"


def submission_entry(number: int, team: str, target: str) -> str:
    return f"{round_dir(number)}/submissions/{team}/{target}.toml"


def reveal_dir(number: int, owner: str) -> str:
    return f"{round_dir(number)}/reveals/{owner}"


def reveal_entry(number: int, owner: str, item: str) -> str:
    return f"{reveal_dir(number, owner)}/{item}.toml"


def explanation_item(target: str) -> str:
    """The item of the explanation sealed with a program for ``target``."""
    return f"{target}.{EXPLANATION}"


def explained_target(item: str) -> str | None:
    """The target whose program ``item`` explains, or None when it is no explanation."""
    target, dot, rest = item.partition(".")
    return target if target and dot and rest == EXPLANATION else None


def explanation_escrow(number: int, team: str, target: str) -> str:
    return f"{round_dir(number)}/submissions/{team}/{target}.{EXPLANATION}.escrow"


def escrow_path(number: int, owner: str, item: str) -> str:
    """Where the escrow of ``owner``'s sealed ``item`` (SECRET_ITEM, HELDOUT_ITEM, a target
    team, or an explanation item) lives."""
    if (target := explained_target(item)) is not None:
        return explanation_escrow(number, owner, target)
    if item == SECRET_ITEM:
        return f"{challenge_dir(number, owner)}/labeler.escrow"
    if item == HELDOUT_ITEM:
        return f"{challenge_dir(number, owner)}/heldout.escrow"
    return f"{round_dir(number)}/submissions/{owner}/{item}.escrow"


HINT_IMAGE = re.compile(r"\Ahint-image-([1-9][0-9]*)\.png\Z")
HINT_ESCROW = re.compile(r"\Ahint-([1-9][0-9]*)\.escrow\Z")


def hint_image_name(index: int) -> str:
    """The file name of a challenge's ``index``-th (1-based) hint picture."""
    return f"hint-image-{index}.png"


def hint_escrow_path(number: int, team: str, index: int) -> str:
    """Where the escrow of ``team``'s ``index``-th (1-based) timed hint lives."""
    return f"{challenge_dir(number, team)}/hint-{index}.escrow"


def hints_dir(number: int, team: str) -> str:
    return f"{round_dir(number)}/hints/{team}"


def hint_entry(number: int, team: str, index: int) -> str:
    """The closer's record of the release of ``team``'s ``index``-th timed hint."""
    return f"{hints_dir(number, team)}/hint-{index}.toml"


def hint_text(number: int, team: str, index: int) -> str:
    """The released hint's exact bytes, checked against its seal."""
    return f"{hints_dir(number, team)}/hint-{index}.txt"


def registration_path(team: str) -> str:
    return f"teams/{team}.toml"


def rotation_path(team: str, number: int) -> str:
    return f"teams/{team}/key-{number:03d}.toml"


def removal_path(team: str) -> str:
    return f"teams/{team}/removed.toml"


def registry_team(path: str) -> str | None:
    """The team a file under teams/ is an entry of, or None when no entry may live there."""
    m = _REGISTRY_FILE.match(path)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Place:
    """What a ledger path is: its kind, round, the team (folder) and the identity that signs."""

    kind: str                 # team | round | challenge | submission | reveal | hint | results
    signer: str               # ORGANIZER, CLOSER or a team name
    round: int | None = None
    team: str | None = None   # the team the path belongs to (or registers)
    name: str = ""            # file name inside the entry's folder

    def entry(self, path: str) -> str:
        """The signed file that vouches for ``path`` (itself for a signed file)."""
        folder = path.rsplit("/", 1)[0]
        if self.kind == "challenge":
            return f"{folder}/challenge.toml"
        if self.kind == "submission":  # <target>.toml|.escrow|.explanation.escrow
            return f"{folder}/{self.name.split('.', 1)[0]}.toml"
        if self.kind in ("reveal", "hint"):
            return f"{folder}/{self.name.rsplit('.', 1)[0]}.toml"
        return path


def classify(path: str) -> Place | None:
    """The entry a path belongs to, or None when no ledger entry may live there."""
    if (team := registry_team(path)) is not None:
        return Place("team", ORGANIZER, team=team, name=path.rsplit("/", 1)[1])
    m = _ROUND_PATH.match(path)
    if not m or not any(p.match(m.group(2)) for p in ROUND_FILES):
        return None
    number, rest = int(m.group(1)), m.group(2).split("/")
    if rest == ["round.toml"]:
        return Place("round", ORGANIZER, number)
    if rest == ["results.toml"]:
        return Place("results", CLOSER, number)
    if rest[0] == "hints":  # released by the closer, in the proposer's folder
        return Place("hint", CLOSER, number, team=rest[1], name=rest[2])
    kind = {"challenges": "challenge", "submissions": "submission", "reveals": "reveal"}[rest[0]]
    return Place(kind, rest[1], number, team=rest[1], name=rest[2])
