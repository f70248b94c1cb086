"""`dixit report -o DIR`: the static results site, checked as a browser renders it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    EXAMPLES,
    League as _League,
    Runner,
    git,
    program,
    propose_small,
    scoped_env,
)

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE_NAME = '<script>alert("name")</script> & League'
HOSTILE_ERROR = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> Iterator[Path]:
    """A closed round with a hostile tournament name and error text, and its site."""
    base = tmp_path_factory.mktemp("site")
    with scoped_env(base):
        root, bare = base / "organizer", base / "ledger.git"
        dixit.ok("init", root, "--name", HOSTILE_NAME, "--bare", bare)
        clones = {}
        for team in ("alice", "bob"):
            dixit.ok("-C", root, "team", "add", team)
        for team in ("alice", "bob"):
            clones[team] = base / team
            git(base, "clone", "-q", str(bare), str(clones[team]))
        league = _League(root, bare, clones, base / "work")
        dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        for team in ("alice", "bob"):
            propose_small(league, dixit, team, steps=20)
        crash = program(base, "crash",
                        f"def label(x):\n    raise RuntimeError({HOSTILE_ERROR!r})\n")
        dixit.ok("-C", clones["bob"], "submit", "--team", "bob", "--challenge", "alice",
                 EXAMPLES / "programs" / "bob_for_alice.py")
        dixit.ok("-C", clones["alice"], "submit", "--team", "alice", "--challenge", "bob", crash)
        dixit.ok("-C", root, "score", "--force")
        out = base / "site"
        data = dixit.ok("-C", clones["alice"], "report", "-o", out, "--json").json()
        assert data["rounds"] == [1] and data["skipped"] == []
        assert data["pictures"] == ["img/r001-alice.png", "img/r001-bob.png"]
        yield out


def test_site_is_self_contained_and_escapes_team_text(site: Path) -> None:
    html = (site / "index.html").read_text()
    assert "<script" not in html and HOSTILE_ERROR not in html
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; &amp; League" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the crash, shown as text
    assert "http://" not in html and "https://" not in html and "<link" not in html
    for src in ("img/r001-alice.png", "img/r001-bob.png"):
        assert f'src="{src}"' in html
        assert (site / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'class="standings"' in html and 'class="matrix"' in html


def test_report_without_pictures_replays_nothing(site: Path, dixit: Runner,
                                                 tmp_path: Path) -> None:
    clone = site.parent / "alice"
    data = dixit.ok("-C", clone, "report", "-o", tmp_path / "s", "--no-pictures",
                    "--json").json()
    assert data["pictures"] == [] and "<img" not in (tmp_path / "s/index.html").read_text()
    assert dixit("-C", clone, "report", "-o", site / "index.html").code == 2


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp)})


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                    "(scripts/install-test-deps.sh installs it)")
def test_site_renders_in_a_headless_browser(site: Path, tmp_path: Path) -> None:
    url = (site / "index.html").resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-500:]
    assert '<table class="standings">' in dom.stdout
    assert '<img src="img/r001-alice.png"' in dom.stdout
    assert "<script" not in dom.stdout  # the hostile name stayed text in the parsed page
    shot = tmp_path / "shot.png"
    res = _chromium(tmp_path, "--window-size=1200,2400", "--hide-scrollbars",
                    f"--screenshot={shot}", url)
    assert res.returncode == 0 and shot.exists(), res.stderr[-500:]
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    # The label maps' "label 1" blue only appears if the browser drew the pictures.
    blue = ((abs(pixels[..., 0] - 0.16) < 0.05) & (abs(pixels[..., 1] - 0.33) < 0.05)
            & (abs(pixels[..., 2] - 0.60) < 0.05))
    assert blue.sum() > 5000, f"only {blue.sum()} label-map pixels on the page"
    shutil.copy(shot, site.parent / "screenshot.png")  # left for a human to look at
