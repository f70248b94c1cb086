"""`dixit report -o DIR`: the static results site, checked as a browser renders it.

One league of two closed rounds holds every kind and picture: a binary grid, a three-class
grid, a flag, an image dataset (synthetic 8x8 images made here), a sequence-output token
challenge and an emulate challenge judged by KL per position; hostile text everywhere a team
writes (the tournament's name, an error, a program's source, a flag guess).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    EXAMPLES,
    League as _League,
    Runner,
    git,
    program,
    propose_small,
    scoped_env,
    ship_dataset,
)

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE_NAME = '<script>alert("name")</script> & League'
HOSTILE_ERROR = "<img src=x onerror=alert(1)>"
HOSTILE_SOURCE = '</pre></code><script>alert("program")</script>'
HOSTILE_GUESS = '</pre><script>alert("guess")</script>'
DATASET = "scoring/data/tiny.safetensors"
FLAG = "Bright top-left corner"
EXPLANATION = "bob read the ring off the **first layer** <script>x()</script>\n"
BANDS = "def label(x):\n    return (x[:, 0] // 4).long()\n"
CORNER = ("import torch\n\ndef label(x):\n"
          "    return (x[:, :2, :2].float().mean(dim=(1, 2)) > 127).long()\n")
ZEROS = "import torch\n\ndef label(x):\n    return torch.zeros(x.shape[0], dtype=torch.long)\n"
NEXT_LOGITS = ("import torch\n\ndef label(x):\n"
               "    prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)\n"
               "    return torch.nn.functional.one_hot((x + prev) % 8, 8).float() * 4\n")
TF = ["--arch", "transformer", "--set", "d_model=16", "--heads", "2", "--d-mlp", "32"]
TEAMS = ("alice", "bob", "carol", "dave")


@dataclass
class Played:
    clone: Path                 # alice's clone, both rounds closed
    out: Path                   # the site (``site.build``); bob's solve has an explanation
    results: dict[int, dict[str, Any]]
    built: dict[str, Any]       # ``Site.as_dict()``


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> Iterator[Played]:
    base = tmp_path_factory.mktemp("site")
    with scoped_env(base):
        root, bare = base / "organizer", base / "ledger.git"
        dixit.ok("init", root, "--name", HOSTILE_NAME, "--bare", bare)
        for team in TEAMS:
            dixit.ok("-C", root, "team", "add", team)
        clones = {}
        for team in TEAMS:
            clones[team] = base / team
            git(base, "clone", "-q", str(bare), str(clones[team]))
        league = _League(root, bare, clones, base / "work")
        import torch

        gen = torch.Generator().manual_seed(7)  # small synthetic 8x8 grey images, made here
        ship_dataset(league, DATASET,
                     torch.randint(0, 256, (96, 8, 8), generator=gen, dtype=torch.uint8))
        work = base / "work"

        def new(team: str, name: str, labeler: str, *args: str) -> None:
            folder = work / name
            dixit.ok("-C", clones[team], "challenge", "new", folder, "--labeler",
                     program(base, f"lab_{name}", labeler), *args)
            dixit.ok("-C", clones[team], "propose", "--team", team, folder)

        def submit(solver: str, target: str, path: Path) -> None:
            dixit.ok("-C", clones[solver], "submit", "--team", solver, "--challenge", target,
                     path)

        def text(name: str, body: str) -> Path:
            path = base / f"{name}.txt"
            path.write_text(body)
            return path

        image = ["--domain", f"dataset:{DATASET}", "--arch", "cnn", "--channels", "4",
                 "--hidden", "8", "--steps", "5"]
        dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        propose_small(league, dixit, "alice", steps=20)
        new("bob", "bands", BANDS, "--domain", "grid:12x12", "--output", "classes:3",
            "--hidden", "8,8", "--steps", "30", "--hint", "<b>three</b> bands")
        new("carol", "flag", CORNER, *image, "--kind", "flag", "--flag", FLAG,
            "--answer-format", "three words")
        new("dave", "corner", CORNER, *image)
        crash = program(base, "crash", f"# {HOSTILE_SOURCE}\ndef label(x):\n"
                        f"    raise RuntimeError({HOSTILE_ERROR!r})\n")
        explained = base / "bob.md"
        explained.write_text(EXPLANATION)
        dixit.ok("-C", clones["bob"], "submit", "--team", "bob", "--challenge", "alice",
                 EXAMPLES / "programs" / "bob_for_alice.py", "--explanation", explained)
        submit("alice", "bob", crash)
        submit("carol", "bob", program(base, "bands", BANDS))
        submit("alice", "carol", text("right", "  bright TOP-LEFT\tcorner \n"))
        submit("dave", "carol", text("wrong", HOSTILE_GUESS + "\n"))
        submit("alice", "dave", program(base, "corner", CORNER))
        submit("bob", "dave", program(base, "zeros", ZEROS))
        results = {1: dixit.ok("-C", root, "score", "--force", "--json").json()}

        dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        for clone in clones.values():
            git(clone, "pull", "-q", "--ff-only")
        new("bob", "running_max", (EXAMPLES / "round2" / "running_max.py").read_text(),
            "--domain", "tokens:4x6", "--output", "sequence:4", *TF, "--steps", "30")
        new("carol", "lm", NEXT_LOGITS, "--domain", "tokens:8x11:300", "--kind", "emulate",
            "--output", "distribution:8", "--train-frac", "1.0", *TF, "--steps", "20")
        submit("alice", "bob", EXAMPLES / "round2" / "dave_for_bob.py")
        submit("dave", "bob", program(base, "identity", "def label(x):\n    return x.clone()\n"))
        submit("dave", "carol", program(base, "next_logits", NEXT_LOGITS))
        results[2] = dixit.ok("-C", root, "score", "--force", "--json").json()

        from dixit.ledger.store import Ledger
        from dixit.views import site

        clone = clones["alice"]
        git(clone, "pull", "-q", "--ff-only")
        out = base / "site"
        built = site.build(Ledger(clone), out)
        yield Played(clone, out, results, built.as_dict())


# -- reading the page ---------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Every <table class="t ..."> of a page: its kind, header texts and row texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "table" and cls.startswith("t "):
            self.tables.append({"kind": cls.split()[1], "header": [], "rows": []})
        elif not self.tables:
            return
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if not self.tables:
            return
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            t = self.tables[-1]
            if self._in_head:
                t["header"] = self._row
            else:
                t["rows"].append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(html: str) -> list[dict[str, Any]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def _round(html: str, number: int) -> str:
    start = html.index(f'<section id="round-{number:03d}">')
    return html[start:html.index("</section>", start)]


def _article(html: str, number: int, team: str) -> str:
    start = html.index(f'<article class="challenge" id="r{number:03d}-{team}">')
    return html[start:html.index("</article>", start)]


# -- the page -----------------------------------------------------------------------------------


def test_site_is_self_contained_and_escapes_team_text(played: Played) -> None:
    html = (played.out / "index.html").read_text()
    assert "<script" not in html and HOSTILE_ERROR not in html
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; &amp; League" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the crash, shown as text
    # the program's comment and the flag guess: text in their blocks, never markup
    assert '&lt;/pre&gt;&lt;/code&gt;&lt;script&gt;alert("program")&lt;/script&gt;' in html
    assert "&lt;/pre&gt;&lt;script&gt;alert(&quot;guess&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;three&lt;/b&gt; bands" in html and "<b>three</b>" not in html
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert "<style>" in html  # inline CSS, and every picture a file of the site
    assert {m for m in re.findall(r'<img [^>]*src="([^"]*)"', html)} == \
        set(played.built["pictures"])
    for src in played.built["pictures"]:
        assert f'src="{src}"' in html
        assert (played.out / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pictures_of_every_kind(played: Played, dixit: Runner, tmp_path: Path) -> None:
    kinds = {"img/r001-alice.png": "maps", "img/r001-bob.png": "maps",
             "img/r001-dave.png": "images", "img/r002-bob.png": "positions",
             "img/r002-carol.png": "positions"}
    assert played.built["picture_kinds"] == kinds
    assert played.built["skipped"] == ["round 1 carol: a flag challenge is judged on a string, "
                                       "not on outputs over its domain: there is nothing to "
                                       "draw"]
    # the command writes the same site
    data = dixit.ok("-C", played.clone, "report", "-o", tmp_path / "s", "--json").json()
    assert data["rounds"] == [1, 2] and data["picture_kinds"] == kinds
    html = (played.out / "index.html").read_text()
    flag = _article(html, 1, "carol")
    assert "No picture: a flag challenge is judged on a string" in flag
    assert "labeler failed" not in html


def test_tables_have_labelled_columns_and_no_empty_ones(played: Played) -> None:
    html = (played.out / "index.html").read_text()
    tables = _tables(html)
    for t in tables:
        assert all(t["header"]), t  # every column has its label
        for i, label in enumerate(t["header"]):
            if t["kind"] not in ("matrix", "standings"):
                assert any(len(r) > i and r[i] for r in t["rows"]), (t["kind"], label)
    season = next(t for t in tables if t["kind"] == "standings")
    assert season["header"][:7] == ["#", "team", "round 001", "round 002", "points", "solves",
                                    "Dixits"]
    rows = {r[1]: r for r in season["rows"]}
    for team in TEAMS:
        per = [played.results[n]["points"].get(team, 0) for n in (1, 2)]
        assert rows[team][2:5] == [str(per[0]), str(per[1]), str(sum(per))]
    assert rows["alice"][7] == "proposed nothing in round 2" and season["header"][7] == "notes"
    # per round: points, solves and Dixits of that round alone
    for number in (1, 2):
        rnd = next(t for t in _tables(_round(html, number)) if t["kind"] == "round-standings")
        assert rnd["header"] == ["#", "team", "points", "solves", "Dixits"]
        got = {r[1]: int(r[2]) for r in rnd["rows"]}
        assert got == {t: played.results[number]["points"].get(t, 0) for t in TEAMS}
    solves = {r[1]: int(r[3]) for r in next(
        t for t in _tables(_round(html, 1)) if t["kind"] == "round-standings")["rows"]}
    assert solves == {t: sum(t in c["solved_by"] for c in played.results[1]["challenges"])
                      for t in TEAMS}


def test_each_challenge_states_its_kind_output_metric_and_bar(played: Played) -> None:
    html = (played.out / "index.html").read_text()
    for number, expected in (
            (1, {"alice": ("labeler", "grid:113x113", "binary", "agreement"),
                 "bob": ("labeler", "grid:12x12", "classes:3", "agreement"),
                 "carol": ("flag", "dataset:" + DATASET, "a string", "exact match"),
                 "dave": ("labeler", "dataset:" + DATASET, "binary", "agreement")}),
            (2, {"bob": ("labeler", "tokens:4x6", "sequence:4", "agreement"),
                 "carol": ("emulate", "tokens:8x11:300", "distribution:8", "kl")})):
        table = next(t for t in _tables(_round(html, number)) if t["kind"] == "challenges")
        assert table["header"][:6] == ["challenge", "kind", "domain", "output", "metric",
                                       "solved at"]
        rows = {r[0]: r for r in table["rows"]}
        by = {c["proposer"]: c for c in played.results[number]["challenges"]}
        for team, (kind, domain, output, metric) in expected.items():
            assert rows[team][1:5] == [kind, domain, output, metric]
            need = by[team]["required"]
            bar = {"flag": "the planted string (normalized)",
                   "emulate": f"KL to the model <= {need:.4g} nats"}.get(
                kind, f"agreement with the labeler >= {need:.2%}")
            assert rows[team][5] == bar
    lm = next(t for t in _tables(_round(html, 2)) if t["kind"] == "challenges")
    assert "judged on" in lm["header"]  # the emulate challenge's post-deadline draw
    first = next(t for t in _tables(_round(html, 1)) if t["kind"] == "challenges")
    assert "judged on" not in first["header"] and "void" not in first["header"]  # empty
    seed = next(c for c in played.results[2]["challenges"] if c["proposer"] == "carol")
    assert f"inputs drawn after submit-by (seed {seed['draw_seed']})" in _article(html, 2,
                                                                                 "carol")


def test_flag_guesses_read_right_and_wrong(played: Played) -> None:
    html = (played.out / "index.html").read_text()
    matrix = next(t for t in _tables(_round(html, 1)) if t["kind"] == "matrix")
    col = matrix["header"].index
    carol = next(r for r in matrix["rows"] if r[0].startswith("carol"))
    assert carol[col("alice")] == "right ✓ +3" and carol[col("dave")] == "wrong +0"
    assert "%" not in " ".join(carol[1:])
    flag = _article(html, 1, "carol")
    assert "<b>dave</b> · wrong · not solved" in flag
    assert f"<pre class=\"plain\">{FLAG}</pre>" in flag  # the revealed flag, shown open


def test_revealed_code_is_highlighted_collapsible_and_in_place(played: Played) -> None:
    html = (played.out / "index.html").read_text()
    alice = _article(html, 1, "alice")
    secret = alice[alice.index("<h4>The secret</h4>"):alice.index("<h4>Submissions</h4>")]
    assert secret.startswith("<h4>The secret</h4><details class=\"source\"><summary>alice&#x27;s "
                             "labeler, revealed <code>rounds/001/reveals/alice/labeler.py"
                             "</code>")
    assert '<div class="hl">' in secret and '<span class="k">def</span>' in secret
    labeler = (EXAMPLES / "labelers" / "alice.py").read_text()
    assert re.sub(r"<[^>]+>", "", secret.split('<td class="code">')[1]).replace(
        "&quot;", '"').replace("&#39;", "'").replace("&lt;", "<").replace(
        "&gt;", ">").replace("&amp;", "&").strip() == labeler.strip()
    # every submission: its score line, then its program in a <details>
    bob = alice[alice.index('id="r001-alice-bob"'):]
    assert bob.startswith('id="r001-alice-bob"><p class="head"><b>bob</b> · 100.00% · '
                          "solved ✓ · <span class=\"pts\">+3</span></p><details "
                          "class=\"source\"><summary>bob&#x27;s program <code>rounds/001/reveals/"
                          "bob/alice.py</code>")
    crash = _article(html, 1, "bob")
    assert '<p class="error">' in crash and "alice&#x27;s program" in crash


def test_an_explanation_sits_with_its_submission(played: Played) -> None:
    html = (played.out / "index.html").read_text()
    sub = html[html.index('id="r001-alice-bob"'):]
    sub = sub[:sub.index("</article>")]  # bob's is alice's only submission
    assert sub.endswith('<div class="explanation"><p class="head">explanation · Markdown, 63 bytes'
                        '</p><div class="body"><p>bob read the ring off the <strong>first '
                        'layer</strong> &lt;script&gt;x()&lt;/script&gt;</p>\n</div></div></div>')
    assert html.count('<div class="explanation">') == 1


def test_report_without_pictures_replays_nothing(played: Played, dixit: Runner,
                                                 tmp_path: Path) -> None:
    data = dixit.ok("-C", played.clone, "report", "-o", tmp_path / "s", "--no-pictures",
                    "--json").json()
    html = (tmp_path / "s/index.html").read_text()
    assert data["pictures"] == [] and "<img" not in html and "<table" in html
    assert dixit("-C", played.clone, "report", "-o", played.out / "index.html").code == 2


# -- in a browser -------------------------------------------------------------------------------


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp)})


# A copy of the page with a probe at its end (the site itself has no script): once loaded,
# it writes what the browser made of every picture and table into the DOM that --dump-dom
# prints.
PROBE = """<script>window.addEventListener("load", () => {
  const out = {images: [...document.images].map(i => [i.getAttribute("src"), i.naturalWidth,
                                                      i.naturalHeight, i.width]),
               tables: [...document.querySelectorAll("table.t")].map(
                 t => [t.className, t.rows.length, t.offsetWidth, t.offsetHeight]),
               height: document.documentElement.scrollHeight};
  document.body.setAttribute("data-probe", JSON.stringify(out));
});</script>"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                    "(scripts/install-test-deps.sh installs it)")
def test_site_renders_in_a_headless_browser(played: Played, tmp_path: Path) -> None:
    import html as html_lib

    import matplotlib.image

    page = (played.out / "index.html").read_text()
    probe = played.out / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    try:
        dom = _chromium(tmp_path, "--run-all-compositor-stages-before-draw",
                        "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    assert dom.returncode == 0, dom.stderr[-500:]
    m = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert m, dom.stdout[-500:]
    seen = json.loads(html_lib.unescape(m.group(1)))
    images = {src: (w, h, shown) for src, w, h, shown in seen["images"]}
    assert set(images) == set(played.built["pictures"])
    for src, (w, h, shown) in images.items():
        on_disk = matplotlib.image.imread(str(played.out / src))
        assert (h, w) == on_disk.shape[:2], src  # the browser decoded the real picture
        assert shown > 300, src                   # and laid it out
    kinds = [t[0].split()[1] for t in seen["tables"]]
    assert kinds == ["standings"] + ["round-standings", "challenges", "matrix"] * 2
    assert all(rows > 1 and w > 100 and h > 40 for _c, rows, w, h in seen["tables"])
    # the parsed page holds no element the hostile text could have made
    plain = _chromium(tmp_path, "--dump-dom", (played.out / "index.html").as_uri())
    assert plain.returncode == 0 and "<script" not in plain.stdout
    assert "<img src=\"x\"" not in plain.stdout

    shot = tmp_path / "shot.png"
    height = min(int(seen["height"]) + 20, 16000)
    res = _chromium(tmp_path, f"--window-size=1200,{height}", f"--screenshot={shot}",
                    (played.out / "index.html").as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr[-500:]
    pixels = matplotlib.image.imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (height, 1200)
    assert (pixels < 0.9).any(axis=-1).mean() > 0.03  # not blank: text, tables, pictures

    def near(rgb: tuple[float, float, float], tol: float = 0.05) -> int:
        return int((abs(pixels - rgb) < tol).all(axis=-1).sum())

    # the label maps' "label 1" blue and the mistakes' red only appear if the browser drew
    # the pictures; the table headers' grey if it drew the tables
    assert near((0.16, 0.33, 0.60)) > 5000, "label maps"
    assert near((0.86, 0.12, 0.12)) > 500, "mistakes"
    assert near((243 / 255, 245 / 255, 247 / 255), 0.005) > 20000, "table headers"
    shutil.copy(shot, played.out.parent / "screenshot.png")  # left for a human to look at


def test_sources_stay_text_whatever_their_bytes() -> None:
    from dixit.views import sources

    hostile = (b"# \x00\x1b[31m\xe2\x80\xa8 </textarea></pre><script>x</script>\r\n"
               b"s = '<img src=x onerror=alert(1)>' \xff\xfe\n")
    for html in (sources.python(hostile), sources.plain(hostile)):
        assert "<script" not in html and "<img" not in html and "</textarea>" not in html
        assert "\x00" not in html and "\x1b" not in html and "\u2028" not in html
        assert "&lt;script&gt;x&lt;/script&gt;" in html and "\ufffd" in html
    big = b"x = 1\n" * (sources.MAX_SHOWN // 6 + 10)
    shown = sources.python(big)
    assert f"The first {sources.MAX_SHOWN:,} of {len(big):,} bytes are shown" in shown
    assert shown.count("<span class=\"n\">x</span>") == sources.MAX_SHOWN // 6 + 1
