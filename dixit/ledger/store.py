"""The git-backed ledger: read a commit's files, append one entry as one commit, atomically.

A write never touches the working tree until the new commit exists: blobs and a tree are built
in a private index, ``update-ref`` moves the branch with a compare-and-swap, and only then are the
changed files checked out. An error at any step before the swap leaves the repository exactly as
it was; an error after it (a refused push) moves the branch back.

Writers in one clone are serialized by ``flock`` on ``.git/dixit.lock`` (the kernel drops it when
a process dies, so a killed writer never leaves a stale lock). Writers in different clones meet
at the shared remote: the first push wins, the others fetch, re-check and rebuild their entry on
the new head, and try again.
"""

from __future__ import annotations

import bisect
import fcntl
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import git

from dixit.errors import LedgerError, NotATournamentError, RetryableError
from dixit.ledger import clock

BRANCH = "main"
REGULAR = "100644"  # the only git mode a ledger file may have: a plain, non-executable file
REMOTE = "origin"
LOCK_TIMEOUT = 60.0
PACK_FROM = 100  # blobs from which a commit writes one pack (git's fastimport.unpackLimit)
PUSH_ATTEMPTS = 12
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_SAFE_REF = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def find_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding tournament.toml in a git work tree."""
    start = start.resolve()
    for cand in (start, *start.parents):
        if (cand / "tournament.toml").is_file() and (cand / ".git").exists():
            return cand
    raise NotATournamentError(f"{start} is not inside a dixit tournament "
                              "(no tournament.toml); create one with `dixit init DIR --name NAME` "
                              "or pass -C PATH")


def check_path(path: str) -> str:
    """Refuse any ledger path that could escape the tree or be taken as a git option."""
    parts = path.split("/")
    if not _SAFE_PATH.match(path) or any(p in (".", "..", ".git") or p.startswith("-")
                                         for p in parts):
        raise LedgerError(f"refusing unsafe ledger path {path!r}")
    return path


class Snapshot:
    """The files of one commit, read without touching the working tree.

    Reads are batched: the first read of a ledger entry (``.toml``) fetches every entry of the
    commit, and the first read of an escrow or revealed program fetches its round's others of
    the same kind, each batch through one ``git cat-file --batch`` process instead of one
    round trip per file (``state.load`` reads every entry; verify and scoring read a round's
    escrows and reveals together). Models and datasets are read one at a time, when asked for.
    Small blobs are also kept, by id, for later snapshots in the same process (a command loads
    the state, then loads it again to build its entry on the newest head): a blob's content
    never changes, so only the blobs a new commit added are read again.
    """

    _shared: ClassVar[dict[str, bytes]] = {}  # blob id -> content; oldest out first
    _shared_bytes: ClassVar[int] = 0
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()
    SHARED_MAX_BYTES: ClassVar[int] = 64 << 20
    SHARED_MAX_BLOB: ClassVar[int] = 1 << 20

    def __init__(self, repo: git.Repo, commit: str | None) -> None:
        self.repo = repo
        self.commit = commit
        self._blobs: dict[str, str] = {}
        self._data: dict[str, bytes] = {}          # blob id -> content, filled by batches
        self._groups: dict[tuple[str, str], list[str]] | None = None  # batch -> blob ids
        self._sorted: list[str] | None = None
        self._folders: dict[str, list[str]] | None = None
        self.irregular: dict[str, str] = {}  # path -> git mode of every non-regular entry
        if commit:
            out = repo.git.ls_tree("-r", "-z", "--full-tree", commit)
            for rec in out.split("\0"):
                if not rec:
                    continue
                meta, path = rec.split("\t", 1)
                mode, kind, sha = meta.split()
                if kind == "blob" and mode == REGULAR:
                    self._blobs[path] = sha
                else:
                    # A link, gitlink or executable is never read (nothing follows a link from
                    # the ledger); state, validate and verify refuse it by name.
                    self.irregular[path] = mode

    def paths(self, prefix: str = "") -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self._blobs)
        start = end = bisect.bisect_left(self._sorted, prefix)
        while end < len(self._sorted) and self._sorted[end].startswith(prefix):
            end += 1  # the paths with a prefix are consecutive once sorted
        return self._sorted[start:end]

    def exists(self, path: str) -> bool:
        return path in self._blobs

    def blob_id(self, path: str) -> str | None:
        return self._blobs.get(path)

    def read(self, path: str) -> bytes | None:
        sha = self._blobs.get(path)
        if sha is None:
            return None
        data = self._data.get(sha)
        if data is None:
            data = self._shared.get(sha)
        if data is None:
            self._fetch_group(path)
            data = self._data.get(sha)
        if data is None:
            data = self.repo.odb.stream(bytes.fromhex(sha)).read()
            self._share(sha, data)
        return data

    @classmethod
    def _share(cls, sha: str, data: bytes) -> None:
        if len(data) > cls.SHARED_MAX_BLOB:
            return
        with cls._shared_lock:
            if sha in cls._shared:
                return
            cls._shared[sha] = data
            cls._shared_bytes += len(data)
            while cls._shared_bytes > cls.SHARED_MAX_BYTES:
                cls._shared_bytes -= len(cls._shared.pop(next(iter(cls._shared))))

    @classmethod
    def drop_shared(cls) -> None:
        """Forget the blobs kept across snapshots (benchmarks measure cold reads)."""
        with cls._shared_lock:
            cls._shared.clear()
            cls._shared_bytes = 0

    def children(self, folder: str) -> list[str]:
        """Names directly under ``folder`` (files or subfolders)."""
        if self._folders is None:
            index: dict[str, set[str]] = {}
            for path in self._blobs:
                parts = path.split("/")
                for depth in range(1, len(parts)):
                    index.setdefault("/".join(parts[:depth]), set()).add(parts[depth])
            self._folders = {k: sorted(v) for k, v in index.items()}
        return list(self._folders.get(folder.rstrip("/"), ()))

    @staticmethod
    def _group(path: str) -> tuple[str, str] | None:
        """The batch a path is fetched with: (area, suffix), or None to read it alone."""
        if not path.startswith(("rounds/", "teams/", "scoring/", "tournament.toml")):
            return None  # not the ledger's own (e.g. an engine checkout in the same repo)
        suffix = path[path.rfind("."):] if "." in path.rsplit("/", 1)[-1] else ""
        if suffix == ".toml":
            return "", suffix  # state.load reads every entry of the commit
        if suffix in (".escrow", ".py"):
            parts = path.split("/")
            return "/".join(parts[:2]) if len(parts) > 2 else "", suffix  # e.g. rounds/007
        return None

    def _fetch_group(self, path: str) -> None:
        if self._groups is None:
            groups: dict[tuple[str, str], dict[str, None]] = {}
            for p, sha in self._blobs.items():
                if (g := self._group(p)) is not None:
                    groups.setdefault(g, {})[sha] = None
            self._groups = {g: list(shas) for g, shas in groups.items()}
        group = self._group(path)
        if group is None or group not in self._groups:
            return
        shas = [s for s in self._groups.pop(group)  # each group is fetched once
                if s not in self._data and s not in self._shared]
        if len(shas) < 2:
            return  # a single read is no cheaper in a batch
        try:
            out = subprocess.run(["git", f"--git-dir={self.repo.git_dir}", "cat-file", "--batch"],
                                 input="".join(f"{s}\n" for s in shas).encode(),
                                 capture_output=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return  # read one at a time instead, which reports a broken object itself
        pos = 0
        for sha in shas:
            eol = out.find(b"\n", pos)
            if eol < 0:
                return
            header = out[pos:eol].split()
            if len(header) != 3 or header[0].decode() != sha or header[1] != b"blob":
                return
            size = int(header[2])
            self._data[sha] = out[eol + 1:eol + 1 + size]
            self._share(sha, self._data[sha])
            pos = eol + 1 + size + 1


@dataclass(frozen=True)
class Change:
    """One entry: files to write (bytes) or delete (None), and who makes the commit."""

    files: dict[str, bytes | None]
    message: str
    author: str
    tag: str | None = None


class Ledger:
    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self.repo = git.Repo(root)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise NotATournamentError(f"{root} is not a git repository") from None
        self._loose: Any = None  # gitdb's writer of loose objects, made when first needed
        self._check_clean_state()

    # -- reading ---------------------------------------------------------------------------

    def head(self) -> str | None:
        try:
            return self.repo.git.rev_parse("--verify", "-q", f"refs/heads/{BRANCH}")
        except git.GitCommandError:
            return None

    def snapshot(self, commit: str | None = None) -> Snapshot:
        return Snapshot(self.repo, commit or self.head())

    def has_remote(self) -> bool:
        return REMOTE in [r.name for r in self.repo.remotes]

    def _check_clean_state(self) -> None:
        gitdir = Path(self.repo.git_dir)
        for marker in ("MERGE_HEAD", "REBASE_HEAD", "CHERRY_PICK_HEAD", "rebase-merge",
                       "rebase-apply"):
            if (gitdir / marker).exists():
                raise LedgerError(f"{self.root} is in the middle of a git merge or rebase; "
                                  "finish or abort it (git merge --abort) first")
        try:
            current = self.repo.git.symbolic_ref("-q", "HEAD")
        except git.GitCommandError:
            raise LedgerError(f"{self.root} has a detached HEAD; run "
                              f"`git checkout {BRANCH}` first") from None
        if current != f"refs/heads/{BRANCH}":
            raise LedgerError(f"{self.root} is on {current}, not {BRANCH}; run "
                              f"`git checkout {BRANCH}` first")

    # -- locking ---------------------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        path = Path(self.repo.git_dir) / "dixit.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RetryableError("another dixit command is writing to this ledger; "
                                             "try again in a moment") from None
                    time.sleep(0.05)
            # We hold the only writer lock, so a git index.lock left by a killed process is stale.
            stale = Path(self.repo.git_dir) / "index.lock"
            if stale.exists():
                stale.unlink(missing_ok=True)
            self._recover()
            yield
        finally:
            os.close(fd)

    def _recover(self) -> None:
        """Finish a write that was killed between moving the branch and updating the files:
        the commit is the truth, so the index and work tree are brought to it."""
        if self.head() is None:
            return
        try:
            self.repo.git.diff_index("--cached", "--quiet", "HEAD", "--")
        except git.GitCommandError:
            self.repo.git.read_tree("--reset", "-u", "HEAD")

    # -- remote sync -----------------------------------------------------------------------

    def sync(self) -> None:
        """Fast-forward to the remote's branch (no-op without a remote)."""
        if not self.has_remote():
            return
        try:
            self.repo.git.fetch("-q", REMOTE,
                                f"+refs/heads/{BRANCH}:refs/remotes/{REMOTE}/{BRANCH}")
        except git.GitCommandError as exc:
            raise RetryableError(f"cannot fetch from the ledger's remote: "
                                 f"{_first_line(exc.stderr)}") from None
        theirs = self._remote_head()
        ours = self.head()
        if theirs is None or theirs == ours:
            return
        if ours is None or self._is_ancestor(ours, theirs):
            self._move(ours, theirs)
        elif not self._is_ancestor(theirs, ours):
            raise LedgerError("this clone's ledger has diverged from its remote; "
                              f"inspect with `git log --oneline --graph {BRANCH} "
                              f"{REMOTE}/{BRANCH}`")

    def pull(self) -> None:
        """Fast-forward to the remote under the writer lock (sync moves the branch, so it must
        never run beside another writer in this clone)."""
        with self.lock():
            self.sync()

    def refresh(self) -> str | None:
        """Best-effort sync for read-only commands; returns a warning instead of failing."""
        if not self.has_remote():
            return None
        try:
            self.pull()
        except LedgerError as exc:
            return f"showing this clone's ledger without the remote's newest entries: {exc}"
        return None

    def _remote_head(self) -> str | None:
        try:
            return self.repo.git.rev_parse("--verify", "-q", f"refs/remotes/{REMOTE}/{BRANCH}")
        except git.GitCommandError:
            return None

    def _is_ancestor(self, a: str, b: str) -> bool:
        try:
            self.repo.git.merge_base("--is-ancestor", a, b)
            return True
        except git.GitCommandError:
            return False

    def _move(self, old: str | None, new: str) -> None:
        """Move the branch from ``old`` to ``new`` (CAS) and update index and work tree."""
        ref = f"refs/heads/{BRANCH}"
        try:
            self.repo.git.update_ref(ref, new, old or "0" * 40)
        except git.GitCommandError:
            raise RetryableError("the ledger changed while writing; run the command again"
                                 ) from None
        try:
            if old:
                self.repo.git.read_tree("-m", "-u", old, new)
            else:
                self.repo.git.read_tree("-u", "--reset", new)
        except git.GitCommandError as exc:
            self.repo.git.update_ref(ref, old) if old else self.repo.git.update_ref("-d", ref)
            raise LedgerError(f"cannot update the working tree (local edits in the ledger?): "
                              f"{_first_line(exc.stderr)}") from None

    # -- writing ---------------------------------------------------------------------------

    def append(self, build: Callable[[Snapshot], Change]) -> str:
        """Build an entry from the current state and commit it (and push, with a remote).

        ``build`` validates against the snapshot it is given and raises a DixitError to refuse;
        it is called again on a fresh snapshot when another writer got in first.
        """
        with self.lock():
            for _attempt in range(PUSH_ATTEMPTS):
                self.sync()
                old = self.head()
                change = build(self.snapshot(old))
                new = self._commit(old, change)
                self._move(old, new)
                try:
                    if change.tag:
                        self._tag(change.tag, new)
                    if not self.has_remote() or self._push(change.tag):
                        return new
                except BaseException:
                    # Any failure after the branch moved (a push refused for another reason,
                    # an interrupt): put the branch and tag back, so the entry is neither stuck
                    # locally nor half-published, and the same command can simply run again.
                    self._undo(old, new, change.tag)
                    raise
                # Someone else pushed first: drop our commit, take theirs, rebuild on top.
                self._undo(old, new, change.tag)
                time.sleep(0.05 * (1 + _attempt))
            raise RetryableError("the shared ledger is busy (other writers kept winning); "
                                 "run the command again")

    def _undo(self, old: str | None, new: str, tag: str | None) -> None:
        """Take back a local commit that was not published: branch to ``old``, no tag."""
        if tag:
            try:
                self.repo.git.tag("-d", tag)
            except git.GitCommandError:
                pass  # never created
        if old:
            self._move(new, old)
        else:
            self.repo.git.update_ref("-d", f"refs/heads/{BRANCH}", new)

    def _commit(self, parent: str | None, change: Change) -> str:
        index = Path(self.repo.git_dir) / f"dixit-index-{os.getpid()}"
        env = {**os.environ, "GIT_INDEX_FILE": str(index),
               "GIT_AUTHOR_NAME": change.author, "GIT_AUTHOR_EMAIL": f"{change.author}@dixit",
               "GIT_COMMITTER_NAME": change.author,
               "GIT_COMMITTER_EMAIL": f"{change.author}@dixit"}
        if os.environ.get("DIXIT_NOW"):
            # A rehearsal's shifted clock dates its commits too, as it dates its entries
            # (verify compares a released hint's commit time with the hint's time).
            stamp = f"{int(clock.now().timestamp())} +0000"
            env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
        try:
            g = self.repo.git
            if parent:
                g.execute(["git", "read-tree", parent], env=env)
            else:
                g.execute(["git", "read-tree", "--empty"], env=env)
            # Every file in one ``update-index`` (a close writes hundreds of reveals), every
            # blob at once (``_store_blobs``); mode 0 removes a path.
            files = sorted(change.files.items())
            for path, _ in files:
                check_path(path)
            shas = iter(self._store_blobs([d for _, d in files if d is not None], env))
            lines = [f"{'0 ' + '0' * 40 if data is None else f'{REGULAR} {next(shas)}'}"
                     f"\t{path}\n" for path, data in files]
            if lines:
                self._index_info("".join(lines), env)
            tree = g.execute(["git", "write-tree"], env=env)
            args = ["git", "commit-tree", tree, "-m", change.message]
            if parent:
                args[3:3] = ["-p", parent]
            return g.execute(args, env=env)
        except git.GitCommandError as exc:
            raise LedgerError(f"cannot write the ledger entry: {_first_line(exc.stderr)}") from None
        finally:
            index.unlink(missing_ok=True)

    def _store_blobs(self, blobs: list[bytes], env: dict[str, str]) -> list[str]:
        """Write blobs; their ids in order. A few (an entry) as loose objects from this
        process (gitdb, as ``git hash-object -w`` would: compressed, to a temporary file
        renamed into place); many (a close's reveals) through one ``git fast-import``, as one
        pack: one file instead of hundreds, which also makes checking them out cheaper."""
        if len(blobs) < PACK_FROM:
            return [self._store_blob(data) for data in blobs]
        marks = Path(self.repo.git_dir) / f"dixit-marks-{os.getpid()}"
        stream = b"".join(b"blob\nmark :%d\ndata %d\n%s\n" % (i, len(data), data)
                          for i, data in enumerate(blobs, 1)) + b"done\n"
        cmd = ["git", "fast-import", "--quiet", "--done", f"--export-marks={marks}"]
        try:
            done = subprocess.run(cmd, input=stream, cwd=self.root, env=env,
                                  capture_output=True)
            if done.returncode:
                raise git.GitCommandError(cmd, done.returncode,
                                          done.stderr.decode(errors="replace"))
            got = dict(line.split() for line in marks.read_text().splitlines())
        finally:
            marks.unlink(missing_ok=True)
        return [got[f":{i}"] for i in range(1, len(blobs) + 1)]

    def _store_blob(self, data: bytes) -> str:
        from io import BytesIO

        from gitdb.base import IStream
        from gitdb.db import LooseObjectDB

        if self._loose is None:
            self._loose = LooseObjectDB(self.repo.odb.root_path())  # the repo's objects/
        stream = self._loose.store(IStream("blob", len(data), BytesIO(data)))
        return stream.hexsha.decode() if isinstance(stream.hexsha, bytes) else stream.hexsha

    def _index_info(self, lines: str, env: dict[str, str]) -> None:
        done = subprocess.run(["git", "update-index", "--index-info"], input=lines.encode(),
                              cwd=self.root, env=env, capture_output=True)
        if done.returncode:
            raise git.GitCommandError(["git", "update-index", "--index-info"], done.returncode,
                                      done.stderr.decode(errors="replace"))

    def _tag(self, name: str, commit: str) -> None:
        if not _SAFE_REF.match(name) or name.startswith("-"):
            raise LedgerError(f"refusing unsafe tag name {name!r}")
        self.repo.git.tag("-f", name, commit)

    def ensure_tag(self, name: str, commit: str) -> bool:
        """Create tag ``name`` at ``commit`` if missing (and push it); True if it was created."""
        try:
            self.repo.git.rev_parse("--verify", "-q", f"refs/tags/{name}")
            return False
        except git.GitCommandError:
            pass
        with self.lock():
            self._tag(name, commit)
            if self.has_remote():
                try:
                    self.repo.git.push("-q", REMOTE, f"refs/tags/{name}")
                except git.GitCommandError as exc:
                    raise RetryableError(f"cannot push tag {name}: {_first_line(exc.stderr)}"
                                         ) from None
        return True

    def _push(self, tag: str | None) -> bool:
        refs = [f"refs/heads/{BRANCH}:refs/heads/{BRANCH}"]
        if tag:
            refs.append(f"refs/tags/{tag}")
        try:
            self.repo.git.push("-q", "--atomic", REMOTE, *refs)
        except git.GitCommandError as exc:
            err = exc.stderr or ""
            if "rejected" in err or "fetch first" in err or "non-fast-forward" in err \
                    or "failed to update" in err or "cannot lock ref" in err:
                return False
            raise RetryableError(f"cannot push to the ledger's remote: {_first_line(err)}"
                                 ) from None
        self.repo.git.update_ref(f"refs/remotes/{REMOTE}/{BRANCH}", self.head())
        return True


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        line = line.strip().removeprefix("stderr: ").strip("'").strip()
        if line:
            return line
    return "git failed"


def init_repo(root: Path) -> Ledger:
    """Create an empty repository on branch main at ``root``."""
    try:
        git.Repo.init(root, initial_branch=BRANCH)
    except git.GitCommandError as exc:
        raise LedgerError(f"cannot create a git repository at {root}: "
                          f"{_first_line(exc.stderr)}") from None
    return Ledger(root)
