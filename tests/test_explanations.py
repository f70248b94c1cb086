"""Explanations with submissions, through the CLI: a Markdown or notebook file sealed in the
same entry as the program, escrowed to the closer, revealed at the close, checked by verify
(a tampered reveal, record or escrow is named) and validate, refused at submit when it is not
one (format, size, UTF-8, nbformat) or missing where the rulebook requires one; rendered for
the site with nothing in it able to run (checked in headless Chromium), and shown by inspect
and show."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dixit.ledger import entries, keystore, layout, seal, state as st
from dixit.ledger.store import Ledger
from dixit.rules import rulebook
from dixit.views import explanations, safe_html
from tests.conftest import (
    EXAMPLES,
    League,
    Runner,
    git,
    ledger_fingerprint,
    make_league,
    propose_small,
    scoped_env,
)
from tests.ledgers import commit_files, rewrite

PROGRAMS = EXAMPLES / "programs"
CHROMIUM = Path("/usr/bin/chromium")
# What every hostile payload does if it runs: a title no page of ours has, built at run time so
# that the payload's own text (shown escaped) never contains it.
PAYLOAD = "document.title='pw'+'ned'+(6*7)"
PWNED = "pwned42"
ESC = "\x1b]0;terminal title\x07\x1b[31m"
MARKDOWN = (f"# How bob found it\n\nThe **neurons** of layer 0 light up on a ring.\n\n"
            f"<script>{PAYLOAD}</script>\n\n<img src=x onerror=\"{PAYLOAD}\">\n\n"
            f"[a link](javascript:{PAYLOAD}) and [a fine one](https://example.org/)\n\n"
            f"![svg](data:image/svg+xml;base64,"
            f"{base64.b64encode(f'<svg><script>{PAYLOAD}</script></svg>'.encode()).decode()})"
            f"\n\n{ESC}red\n")
SUB_BOB = "rounds/001/submissions/bob/alice"
REVEAL_BOB = "rounds/001/reveals/bob/alice.explanation"
REVEAL_ALICE = "rounds/001/reveals/alice/bob.explanation"


def hostile_notebook() -> str:
    """A notebook valid per nbformat whose every part tries to run a script."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

    svg = f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{PAYLOAD}\"><script>{PAYLOAD}" \
          "</script></svg>"
    nb = new_notebook(cells=[
        new_markdown_cell(f"# Alice's notebook\n\nProbing the **attention**.\n\n"
                          f"<script>{PAYLOAD}</script>\n<img src=x onerror=\"{PAYLOAD}\">\n"
                          f"[click](javascript:{PAYLOAD}) <a href=\"javascript:{PAYLOAD}\">a</a>"
                          f"\n<iframe src=\"javascript:{PAYLOAD}\"></iframe>"
                          f"<style>body{{display:none}}</style>"),
        new_code_cell("print('found it')", execution_count=1, outputs=[
            new_output("stream", name="stdout", text=f"found it <script>{PAYLOAD}</script>\n"),
            new_output("display_data", data={
                "text/html": f"<img src=x onerror=\"{PAYLOAD}\"><script>{PAYLOAD}</script>",
                "text/plain": "<a table>"}),
            new_output("display_data", data={"application/javascript": PAYLOAD}),
            new_output("display_data", data={"image/svg+xml": svg}),
            new_output("display_data", data={"text/markdown": f"<script>{PAYLOAD}</script>"}),
            new_output("display_data", data={"image/png": base64.b64encode(_png()).decode()}),
        ]),
        new_raw_cell(f"<script>{PAYLOAD}</script>", metadata={"raw_mimetype": "text/html"}),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0}}
    nbformat.validate(nb)
    return nbformat.writes(nb)


def _png() -> bytes:
    import io

    import numpy as np
    from matplotlib.image import imsave

    buf = io.BytesIO()
    imsave(buf, np.zeros((4, 4, 3)), format="png")
    return buf.getvalue()


def plain_notebook() -> str:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    return nbformat.writes(new_notebook(cells=[new_markdown_cell("# Plain"),
                                               new_code_cell("1 + 1")]))


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    """A closed round: bob's program for alice with a hostile Markdown explanation, alice's for
    bob with a hostile notebook, carol's for alice with none, and carol's for bob resubmitted
    without the explanation it first had. What was public before the close is kept."""
    base = tmp_path_factory.mktemp("explain")
    with scoped_env(base):
        league = make_league(base, dixit, ("alice", "bob", "carol"))
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        for team in ("alice", "bob"):
            propose_small(league, dixit, team, steps=20)
        md = base / "bob.md"
        md.write_text(MARKDOWN)
        nb = base / "alice.ipynb"
        nb.write_text(hostile_notebook())
        first = base / "first.md"
        first.write_text("carol's first thoughts\n")
        sub = dixit.ok("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge",
                       "alice", PROGRAMS / "bob_for_alice.py", "--explanation", md,
                       "--json").json()
        dixit.ok("-C", league.clone("alice"), "submit", "--team", "alice", "--challenge", "bob",
                 PROGRAMS / "alice_for_bob.py", "-e", nb)
        dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge",
                 "alice", PROGRAMS / "carol_for_alice.py")
        dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge", "bob",
                 PROGRAMS / "carol_for_bob.py", "-e", first)
        had = (league.clone("carol") / layout.explanation_escrow(1, "carol", "bob")).is_file()
        dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge", "bob",
                 PROGRAMS / "carol_for_bob.py")
        git(league.root, "pull", "-q", "--ff-only")
        before = {"files": git(league.root, "ls-files").split("\n"), "submitted": sub,
                  "carol_had_escrow": had,
                  "inspect": dixit.ok("-C", league.root, "inspect", "alice", "--json").json()}
        dixit.ok("-C", league.root, "score", "--force")
        git(league.root, "pull", "-q", "--ff-only")
        site = base / "site"
        dixit.ok("-C", league.root, "report", "-o", site, "--no-pictures")
        yield league, before, base, site


def _use_keys(monkeypatch: pytest.MonkeyPatch, base: Path) -> None:
    monkeypatch.setenv("DIXIT_HOME", str(base / "keys"))


def test_sealed_with_the_program_until_the_close(told) -> None:
    league, before, _base, _site = told
    assert before["submitted"]["explanation"]["format"] == "md"
    assert before["submitted"]["explanation"]["bytes"] == len(MARKDOWN.encode())
    # sealed in the program's own entry, bound to its seal, escrowed beside it
    state = st.load(Ledger(league.root).snapshot())
    sub = state.rounds[1].submissions[("bob", "alice")]
    assert sub.explanation is not None
    assert set(sub.explanation) == {"format", "commitment", "scheme", "payload_bytes",
                                    "escrow_sha256"}
    assert sub.explanation["format"] == "md"
    assert sub.explanation["payload_bytes"] == len(MARKDOWN.encode())
    assert f"{SUB_BOB}.explanation.escrow" in before["files"]
    # before the close: no reveal, and no file of the ledger holds the text
    assert not [f for f in before["files"] if ".explanation." in f and "/reveals/" in f]
    for path in before["files"]:
        if path.startswith("rounds/") and (league.root / path).is_file():
            assert b"neurons of layer 0" not in (league.root / path).read_bytes(), path
    # inspect shows the seal, never the text or its hash
    shown = {e["team"]: e for e in before["inspect"]["explanations"]}
    assert set(shown) == {"bob"}  # carol's program for alice carries none
    assert shown["bob"]["status"] == "sealed" and shown["bob"]["text"] is None
    assert shown["bob"]["sha256"] is None and shown["bob"]["bytes"] == len(MARKDOWN.encode())
    # a resubmission replaced carol's explanation for bob with the program: its escrow is gone
    assert before["carol_had_escrow"]
    assert layout.explanation_escrow(1, "carol", "bob") not in before["files"]
    assert state.rounds[1].submissions[("carol", "bob")].explanation is None


def test_revealed_at_the_close_and_verified(told, dixit: Runner,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    league, _before, base, _site = told
    _use_keys(monkeypatch, base)
    assert (league.root / f"{REVEAL_BOB}.md").read_bytes() == MARKDOWN.encode()
    assert (league.root / f"{REVEAL_ALICE}.ipynb").read_text() == hostile_notebook_text(base)
    rv = st.load(Ledger(league.root).snapshot()).rounds[1].reveals[
        ("bob", layout.explanation_item("alice"))]
    assert rv.by == "closer" and rv.path == f"{REVEAL_BOB}.md"
    rep = dixit.ok("-C", league.root, "verify", "--json").json()
    assert rep["ok"], rep["problems"]
    assert rep["checked"]["explanations"] == 2  # carol's were dropped or never sealed
    assert rep["checked"]["reveals"] == 2 + 4 + 2  # labelers, programs, explanations


def hostile_notebook_text(base: Path) -> str:
    return (base / "alice.ipynb").read_text()


def _copy(league: League, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(league.root, copy, symlinks=True)
    return copy


def _problems(dixit: Runner, root: Path, *args: str) -> list[str]:
    rep = dixit("-C", root, "verify", "--json", *args).json()
    assert not rep["ok"]
    return rep["problems"]


def test_verify_catches_a_tampered_revealed_explanation(told, dixit: Runner, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """Another text than the sealed one, even written into the whole history so that no commit
    shows a change: only the seal gives it away."""
    league, _before, base, _site = told
    _use_keys(monkeypatch, base)
    copy = _copy(league, tmp_path)
    rewrite(copy, {f"{REVEAL_BOB}.md": MARKDOWN.replace("ring", "line").encode()})
    want = (f"{REVEAL_BOB}: bob's explanation for alice: revealed content does not match its "
            "seal")
    assert _problems(dixit, copy, "--no-replay") == [want]
    # inspect names it too, and shows no text for it
    res = dixit("-C", copy, "inspect", "alice", "--submission", "bob", "--json")
    assert res.code == 1
    doc = res.json()
    assert doc["explanation"]["status"] == "mismatch" and doc["explanation"]["text"] is None
    assert f"explanation: {want.split(': ', 1)[1]}" in doc["problems"]


def test_verify_catches_a_tampered_reveal_record(told, dixit: Runner, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The closer's record re-signed with another salt, or naming another file."""
    league, _before, base, _site = told
    _use_keys(monkeypatch, base)
    record = f"{REVEAL_ALICE}.toml"
    closer = keystore.load(st.read_info(Ledger(league.root).snapshot()).id, "closer")

    def resigned(**changes: str) -> bytes:
        payload, _sig = entries.parse((league.root / record).read_bytes(), record)
        payload["reveal"].update(changes)
        return entries.signed(payload, closer.signing)

    copy = _copy(league, tmp_path)
    rewrite(copy, {record: resigned(salt=seal.b64(b"\x01" * 32))})
    assert _problems(dixit, copy, "--no-replay") == [
        f"{REVEAL_ALICE}: alice's explanation for bob: revealed content does not match its "
        "seal"]
    shutil.rmtree(copy)
    copy = _copy(league, tmp_path)
    rewrite(copy, {record: resigned(file="bob.explanation.md")})
    assert _problems(dixit, copy, "--no-replay") == [
        f"{record}: the revealed explanation must be bob.explanation.ipynb, not "
        "'bob.explanation.md'"]


def test_verify_catches_a_tampered_or_stray_explanation_escrow(told, dixit: Runner,
                                                              tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    league, _before, base, _site = told
    _use_keys(monkeypatch, base)
    escrow = f"{SUB_BOB}.explanation.escrow"
    blob = (league.root / escrow).read_bytes()
    copy = _copy(league, tmp_path)
    rewrite(copy, {escrow: blob[:-1] + bytes([blob[-1] ^ 1])})
    assert _problems(dixit, copy, "--no-replay") == [f"{escrow}: does not match its seal"]
    # an escrow beside a submission that seals no explanation (carol's for alice)
    shutil.rmtree(copy)
    copy = _copy(league, tmp_path)
    stray = "rounds/001/submissions/carol/alice.explanation.escrow"
    commit_files(copy, {stray: blob}, "stray")
    problems = _problems(dixit, copy, "--no-replay")
    assert f"{stray}: its submission entry seals no explanation" in problems, problems


def test_a_rulebook_change_later_does_not_touch_earlier_submissions(told, dixit: Runner,
                                                                    tmp_path: Path,
                                                                    monkeypatch:
                                                                    pytest.MonkeyPatch) -> None:
    """carol's programs carry no explanation, which the rulebook did not require when they were
    committed: requiring one from now on is no problem of theirs."""
    league, _before, base, _site = told
    _use_keys(monkeypatch, base)
    copy = _copy(league, tmp_path)
    rules = (copy / layout.RULES).read_text().replace("require_explanation = false",
                                                      "require_explanation = true")
    commit_files(copy, {layout.RULES: rules.encode()}, "rules: require explanations")
    rep = dixit("-C", copy, "verify", "--json", "--no-replay").json()
    assert rep["ok"], rep["problems"]


def test_a_round_closed_before_explanations_existed_still_verifies(told, dixit: Runner,
                                                                    tmp_path: Path,
                                                                    monkeypatch:
                                                                    pytest.MonkeyPatch) -> None:
    """Results whose recorded rules lack require_explanation and [explanations] (as every
    round closed before them) re-score to the same results."""
    league, _before, base, _site = told
    _use_keys(monkeypatch, base)
    results = "rounds/001/results.toml"
    closer = keystore.load(st.read_info(Ledger(league.root).snapshot()).id, "closer")
    payload, _sig = entries.parse((league.root / results).read_bytes(), results)
    for key in ("require_explanation", "explanations"):
        del payload["rules"][key]
    copy = _copy(league, tmp_path)
    rewrite(copy, {results: entries.signed(payload, closer.signing)})
    rep = dixit("-C", copy, "verify", "--json").json()  # with the replay
    assert rep["ok"], rep["problems"]
    assert rulebook.from_record(payload["rules"]).require_explanation is False


# -- shown ---------------------------------------------------------------------------------------


def test_inspect_and_show_give_the_revealed_explanation(told, dixit: Runner, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    league, _before, base, _site = told
    _use_keys(monkeypatch, base)
    doc = dixit.ok("-C", league.root, "inspect", "alice", "--submission", "bob",
                   "--json").json()
    e = doc["explanation"]
    assert e["name"] == "alice.explanation.md" and e["format"] == "md"
    assert e["status"] == "revealed" and e["text"] == MARKDOWN
    assert e["bytes"] == len(MARKDOWN.encode())
    assert e["sha256"] == seal.sha256_hex(MARKDOWN.encode())
    assert e["file"] == f"{REVEAL_BOB}.md"
    # the terminal: rich's Markdown, with no escape sequence of the text reaching it
    out = dixit.ok("-C", league.root, "inspect", "alice", "--submission", "bob").out
    assert "How bob found it" in out and "neurons" in out
    assert "explanation by bob" in out
    assert "\x1b" not in out and "\x07" not in out
    # a notebook in the terminal: its markdown, code and text outputs
    out = dixit.ok("-C", league.root, "inspect", "bob", "--submission", "alice").out
    assert "Alice's notebook" in out and "print('found it')" in out and "<a table>" in out
    # carol's submission for alice carries none; dave submitted nothing
    doc = dixit.ok("-C", league.root, "inspect", "alice", "--submission", "carol",
                   "--json").json()
    assert doc["explanation"] is None
    res = dixit("-C", league.root, "inspect", "bob", "--submission", "bob")
    assert res.code == 1 and "'bob' submitted nothing for bob's challenge in round 1" in res.err
    shown = dixit.ok("-C", league.root, "show", "alice", "--submission", "bob", "-o",
                     tmp_path / "maps.png", "--json").json()
    assert shown["explanation"]["sha256"] == e["sha256"]
    assert shown["explanation"]["text"] == MARKDOWN
    out = dixit.ok("-C", league.root, "show", "alice", "--submission", "bob", "-o",
                   tmp_path / "maps.png").out
    assert "How bob found it" in out


def test_the_site_shows_each_explanation_under_its_score(told) -> None:
    _league, _before, _base, site = told
    page = (site / "index.html").read_text()

    def block(team: str, target: str) -> str:  # a submission's block on the page
        start = page.index(f'id="r001-{target}-{team}"')
        ends = [i for i in (page.find('<div class="submission', start),
                            page.find("</article>", start)) if i >= 0]
        return page[start:min(ends)]

    bob, alice = block("bob", "alice"), block("alice", "bob")
    assert '<div class="explanation"><p class="head">explanation · Markdown, ' in bob
    assert '<div class="explanation"><p class="head">explanation · Jupyter notebook, ' in alice
    assert '<div class="explanation">' not in block("carol", "alice") + block("carol", "bob")
    assert page.count('<div class="explanation">') == 2
    section = "".join(b[b.index('<div class="explanation">'):] for b in (bob, alice))
    assert "<h1>How bob found it</h1>" in section and "<strong>neurons</strong>" in section
    assert "Alice's notebook</h1>" in section
    assert '<a href="https://example.org/" rel="nofollow noopener noreferrer">' in section
    assert "data:image/png;base64," in section  # the notebook's PNG output
    _assert_inert(section)


# -- rendering hostile explanations --------------------------------------------------------------


class _Tags(HTMLParser):
    """Every tag and attribute a browser would see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _assert_inert(html: str) -> None:
    """Only harmless tags and attributes: no script, handler, style, frame, form, SVG, and no
    address but http(s)/mailto links and PNG/JPEG data images."""
    parser = _Tags()
    parser.feed(html)
    page_tags = {"section", "article", "h3", "h4", "style"}  # the site's own frame
    for tag, attrs in parser.tags:
        assert tag in safe_html.TAGS | page_tags, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in ("style", "srcset", "srcdoc", "formaction", "id"), (tag, name)
            if name == "href":
                assert str(value).startswith(("https://", "http://", "mailto:")), value
            if name == "src":
                assert str(value).startswith(("data:image/png;base64,",
                                              "data:image/jpeg;base64,")), value
    # and no such tag anywhere, even where the parser above would not see one (a handler or a
    # script given as text is escaped: shown, never parsed)
    lowered = html.lower()
    for needle in ("<script", "<iframe", "<svg", "<object", "<embed", "<form", "<math",
                   "<meta", "<link", "<base"):
        assert needle not in lowered, needle


def test_a_hostile_notebook_renders_to_inert_html(tmp_path: Path) -> None:
    html, note = explanations.to_html("ipynb", hostile_notebook())
    assert note is None
    _assert_inert(html)
    # what is not live markup is still shown, as text
    assert "<h1>Alice's notebook</h1>" in html
    assert "found it &lt;script&gt;" in html  # the stream output, escaped
    assert "&lt;a table&gt;" in html            # text/plain beside the dropped text/html
    assert html.count("data:image/png;base64,") == 1


def test_a_hostile_markdown_renders_to_inert_html() -> None:
    html, note = explanations.to_html("md", MARKDOWN)
    assert note is None
    _assert_inert(html)
    assert "<h1>How bob found it</h1>" in html
    # raw HTML is disabled: the tags are shown as text, never parsed
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=" in html
    # a link to javascript: stays text (markdown-it refuses it), never an address
    assert "[a link](javascript:document.title=" in html
    assert "\x1b" not in html and "\x07" not in html  # control characters are dropped


SANITIZED = [
    ("script", f"<script>{PAYLOAD}</script>ok", "ok"),
    ("unclosed script", f"a<script>{PAYLOAD}", "a"),
    ("event handler", '<p onclick="x()">hi</p>', "<p>hi</p>"),
    ("image without a data png", "<img src=x onerror=alert(1)>", ""),
    ("svg image", '<img src="data:image/svg+xml;base64,PHN2Zz4=">', ""),
    ("png image", '<img src="data:image/png;base64,iVBORw0KGgo=" alt="a">',
     '<img src="data:image/png;base64,iVBORw0KGgo=" alt="a">'),
    ("bad base64 png", '<img src="data:image/png;base64,@@@">', ""),
    ("javascript link", '<a href="JavaScript:alert(1)">x</a>', "x"),
    ("entity-hidden javascript link", '<a href="java&#x73;cript:alert(1)">x</a>', "x"),
    ("web link", '<a href="https://e.org/?a=1&b=2" target="_top">e</a>',
     '<a href="https://e.org/?a=1&amp;b=2" rel="nofollow noopener noreferrer">e</a>'),
    ("svg", f"<svg onload=\"{PAYLOAD}\"><script>{PAYLOAD}</script></svg>after", "after"),
    ("iframe", f"<iframe srcdoc=\"<script>{PAYLOAD}</script>\"></iframe>z", "z"),
    ("object and embed", "<object data=x></object><embed src=x>after", "after"),
    ("form", "<form action=x><button formaction=y>b</button></form>f", "f"),
    ("style", "<style>body{display:none}</style><p style=\"color:red\">s</p>", "<p>s</p>"),
    ("meta refresh", '<meta http-equiv="refresh" content="0;url=https://e.org">m', "m"),
    ("comment and cdata", "<!-- <script>x</script> --><![CDATA[y]]>t", "t"),
    ("class names", '<div class="cell flag solved"><p>x', '<div class="cell"><p>x</p></div>'),
    ("stray close", "</div></p>text", "text"),
    ("text stays text", "a &lt;b&gt; & c", "a &lt;b&gt; &amp; c"),
]


@pytest.mark.parametrize(("html", "want"), [(h, w) for _n, h, w in SANITIZED],
                         ids=[n for n, _h, _w in SANITIZED])
def test_the_sanitizer(html: str, want: str) -> None:
    assert safe_html.clean(html) == want


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--virtual-time-budget=3000", f"--user-data-dir={tmp / 'profile'}",
         *args], capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp)})


def _title_after_load(tmp: Path, page: Path) -> str:
    dom = _chromium(tmp, "--dump-dom", page.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-500:]
    head = dom.stdout.split("</title>", 1)[0]
    return head.rsplit("<title>", 1)[-1]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                    "(scripts/install-test-deps.sh installs it)")
def test_no_script_runs_in_a_browser(told, tmp_path: Path) -> None:
    _league, _before, _base, site = told
    # the control: the same payloads, unsanitized, do run here (so the check below can fail)
    raw = tmp_path / "raw.html"
    raw.write_text(f"<!doctype html><title>clean</title><body><img src=x onerror=\"{PAYLOAD}\">"
                   "</body>")
    assert _title_after_load(tmp_path, raw) == PWNED
    # the explanations rendered alone, and the real site holding them
    for fmt, text in (("ipynb", hostile_notebook()), ("md", MARKDOWN)):
        page = tmp_path / f"rendered-{fmt}.html"
        page.write_text("<!doctype html><title>clean</title><body>"
                        f"{explanations.to_html(fmt, text)[0]}</body>")
        assert _title_after_load(tmp_path, page) == "clean", fmt
    title = _title_after_load(tmp_path, site / "index.html")
    assert PWNED not in title and title.endswith("· results"), title


def test_without_the_notebooks_extra(tmp_path: Path) -> None:
    """Without nbformat and nbconvert: a notebook is refused at submit with one line naming the
    extra, and a revealed one is shown as its cells' escaped text with a note; Markdown needs
    neither."""
    nb = tmp_path / "n.ipynb"
    nb.write_text(hostile_notebook())
    script = f"""
import json, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("nbformat", "nbconvert"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from pathlib import Path
from dixit.challenge.explanation import read_explanation
from dixit.errors import DixitError
from dixit.rules.explanations import CEILING
from dixit.views import explanations
out = {{}}
try:
    read_explanation(Path({str(nb)!r}), CEILING)
except DixitError as exc:
    out["submit"] = str(exc)
out["md"] = read_explanation(Path({str(nb).replace('.ipynb', '.md')!r}), CEILING)[0]
out["html"], out["note"] = explanations.to_html("ipynb", Path({str(nb)!r}).read_text())
print(json.dumps(out))
"""
    (tmp_path / "n.md").write_text("# fine\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["submit"] == ("a notebook explanation is checked with nbformat, which is not "
                             "installed; install the notebooks extra: pip install "
                             "'dixit[notebooks]'")
    assert out["md"] == "md"
    assert out["note"] == ("shown as its cells' plain text: rendering notebooks needs nbconvert "
                           "(the notebooks extra: pip install 'dixit[notebooks]')")
    assert "<pre># Alice&#x27;s notebook" in out["html"]
    assert "&lt;script&gt;" in out["html"]
    _assert_inert(out["html"])


# -- refusals and the rulebook -------------------------------------------------------------------


def _league_with_rules(base: Path, dixit: Runner, rules: dict[str, str]) -> League:
    """alice and carol, the organizer's rulebook edited (``old -> new`` lines) before round 1;
    alice proposes."""
    league = make_league(base, dixit, ("alice", "carol"))
    text = (league.root / layout.RULES).read_text()
    for old, new in rules.items():
        assert old in text
        text = text.replace(old, new)
    if rules:
        (league.root / layout.RULES).write_text(text)
        git(league.root, "commit", "-q", "-am", "rules")
        git(league.root, "push", "-q", "origin", "main")
        for clone in league.clones.values():
            git(clone, "pull", "-q", "--ff-only")
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    propose_small(league, dixit, "alice", steps=5)
    git(league.clone("carol"), "pull", "-q", "--ff-only")
    return league


@pytest.fixture
def strict(tmp_path: Path, dixit: Runner, monkeypatch: pytest.MonkeyPatch) -> League:
    """A round whose rulebook requires explanations, of at most 200 bytes of Markdown."""
    _use_keys(monkeypatch, tmp_path)
    return _league_with_rules(tmp_path, dixit, {
        "require_explanation = false": "require_explanation = true",
        "max_markdown_bytes = 1048576": "max_markdown_bytes = 200"})


def _refused(dixit: Runner, league: League, *args: str | Path) -> str:
    carol = league.clone("carol")
    fp = ledger_fingerprint(carol)
    res = dixit("-C", carol, "submit", "--team", "carol", "--challenge", "alice",
                PROGRAMS / "carol_for_alice.py", *args)
    lines = res.err.strip().splitlines()
    assert res.code == 1 and len(lines) == 1 and lines[0].startswith("error: "), res.err
    assert ledger_fingerprint(carol) == fp
    return lines[0].removeprefix("error: ")


def test_submit_refuses_what_is_not_an_explanation(strict: League, dixit: Runner,
                                                   tmp_path: Path) -> None:
    league = strict
    assert _refused(dixit, league) == (
        "the rulebook requires an explanation with every submission "
        "(solve.require_explanation): add --explanation FILE (.md or .ipynb)")
    txt = tmp_path / "why.txt"
    txt.write_text("plain")
    big = tmp_path / "big.md"
    big.write_text("x" * 201)
    empty = tmp_path / "empty.md"
    empty.write_text("")
    latin = tmp_path / "latin.md"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    junk = tmp_path / "junk.ipynb"
    junk.write_text("{not json")
    schema = tmp_path / "schema.ipynb"
    schema.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                  "cells": [{"cell_type": "nonsense", "source": "x"}]}))
    link = tmp_path / "link.md"
    os.symlink(big, link)
    for path, want in [
        (txt, f"explanation {txt}: an explanation is a Markdown (.md) or Jupyter notebook "
              "(.ipynb) file, not '.txt'"),
        (big, f"explanation {big}: the explanation is 201 bytes, over the rulebook's limit of "
              "200 for a Markdown (explanations.max_markdown_bytes)"),
        (empty, f"explanation {empty}: the explanation is empty"),
        (latin, f"explanation {latin} is not UTF-8 text"),
        (junk, f"explanation {junk} is not a Jupyter notebook: not JSON (Expecting property "
               "name enclosed in double quotes: line 1 column 2 (char 1))"),
        (tmp_path / "none.md", f"explanation {tmp_path / 'none.md'} not found"),
    ]:
        assert _refused(dixit, league, "--explanation", path) == want
    got = _refused(dixit, league, "--explanation", schema)
    assert got.startswith(f"explanation {schema} is not a valid Jupyter notebook "
                          "(nbformat.validate: "), got
    got = _refused(dixit, league, "--explanation", link)
    assert got.startswith(f"explanation {link}: "), got
    # within the rules, it goes in
    fine = tmp_path / "fine.md"
    fine.write_text("# short\n")
    dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge", "alice",
             PROGRAMS / "carol_for_alice.py", "--explanation", fine)


def test_validate_and_verify_agree_on_a_required_explanation(strict: League, dixit: Runner,
                                                             tmp_path: Path) -> None:
    """A pull request whose submission carries no explanation where the rulebook requires one
    (an entry signed by hand: the CLI never writes it) is refused by validate, and verify names
    the same entry once it is in."""
    carol = strict.clone("carol")
    git(carol, "remote", "rename", "origin", "upstream")
    fine = tmp_path / "fine.md"
    fine.write_text("# short\n")
    dixit.ok("-C", carol, "submit", "--team", "carol", "--challenge", "alice",
             PROGRAMS / "carol_for_alice.py", "--explanation", fine)
    assert dixit("-C", carol, "validate", "--base", "upstream/main").code == 0
    entry = "rounds/001/submissions/carol/alice.toml"
    payload, _sig = entries.parse((carol / entry).read_bytes(), entry)
    del payload["explanation"]
    key = keystore.load(st.read_info(Ledger(carol).snapshot()).id, "team-carol")
    commit_files(carol, {entry: entries.signed(payload, key.signing),
                         "rounds/001/submissions/carol/alice.explanation.escrow": None},
                 "submit without an explanation")
    want = (f"{entry}: carries no explanation, but the rulebook requires one with every "
            "submission (solve.require_explanation)")
    res = dixit("-C", carol, "validate", "--base", "upstream/main", "--json")
    assert res.code == 1 and res.json()["problems"] == [want]
    problems = _problems(dixit, carol, "--no-replay")
    assert [p for p in problems if "explanation" in p] == [
        want.replace(entry, f"{entry} (commit {git(carol, 'rev-parse', 'HEAD')[:10]})")]


@pytest.fixture
def pr(tmp_path: Path, dixit: Runner, monkeypatch: pytest.MonkeyPatch) -> tuple[League, Path]:
    """Default rules; carol's clone does not push: her entries are a pull request."""
    _use_keys(monkeypatch, tmp_path)
    league = _league_with_rules(tmp_path, dixit, {})
    carol = league.clone("carol")
    git(carol, "remote", "rename", "origin", "upstream")
    return league, carol


SUB_CAROL = "rounds/001/submissions/carol/alice"


def _validate(dixit: Runner, clone: Path) -> list[str]:
    res = dixit("-C", clone, "validate", "--base", "upstream/main", "--json")
    return res.json()["problems"]


def test_validate_judges_explanation_escrows(pr: tuple[League, Path], dixit: Runner,
                                             tmp_path: Path) -> None:
    _league, carol = pr
    md = tmp_path / "why.md"
    md.write_text("# why\n")
    dixit.ok("-C", carol, "submit", "--team", "carol", "--challenge", "alice",
             PROGRAMS / "carol_for_alice.py", "--explanation", md)
    assert _validate(dixit, carol) == []
    escrow = f"{SUB_CAROL}.explanation.escrow"
    blob = (carol / escrow).read_bytes()
    commit_files(carol, {escrow: blob[:-1] + bytes([blob[-1] ^ 1])}, "swap")
    assert _validate(dixit, carol) == [
        f"{escrow}: does not match the hash sealed in {SUB_CAROL}.toml"]
    commit_files(carol, {escrow: None}, "drop")
    assert _validate(dixit, carol) == [
        f"{SUB_CAROL}.toml: its alice.explanation.escrow is missing (this tournament escrows "
        "every secret to the closer)"]
    # an explanation escrow beside an entry that seals none
    git(carol, "reset", "-q", "--hard", "upstream/main")
    dixit.ok("-C", carol, "submit", "--team", "carol", "--challenge", "alice",
             PROGRAMS / "carol_for_alice.py")
    commit_files(carol, {escrow: blob}, "sneak")
    assert _validate(dixit, carol) == [f"{escrow}: its submission entry seals no explanation"]


def test_a_resubmission_without_an_explanation_drops_it(pr: tuple[League, Path],
                                                        dixit: Runner, tmp_path: Path) -> None:
    """Merged, a submission with an explanation; then a pull request resubmitting without one
    deletes its escrow, which validate accepts (and verify too) only with the entry that
    seals none."""
    _league, carol = pr
    md = tmp_path / "why.md"
    md.write_text("# why\n")
    dixit.ok("-C", carol, "submit", "--team", "carol", "--challenge", "alice",
             PROGRAMS / "carol_for_alice.py", "--explanation", md)
    git(carol, "push", "-q", "upstream", "HEAD:main")  # merged
    git(carol, "fetch", "-q", "upstream")
    escrow = f"{SUB_CAROL}.explanation.escrow"
    dixit.ok("-C", carol, "submit", "--team", "carol", "--challenge", "alice",
             PROGRAMS / "carol_for_alice.py")
    assert not (carol / escrow).exists()
    assert _validate(dixit, carol) == []
    rep = dixit("-C", carol, "verify", "--json", "--no-replay").json()
    assert rep["ok"], rep["problems"]
    # deleting an explanation escrow without rewriting its entry is refused
    git(carol, "reset", "-q", "--hard", "upstream/main")
    commit_files(carol, {escrow: None}, "drop it")
    assert _validate(dixit, carol) == [f"{escrow}: deletes a sealed ledger file"]
    problems = _problems(dixit, carol, "--no-replay")
    assert any(p.startswith(f"{escrow} (commit ") and p.endswith("a sealed submission was "
                                                                "deleted") for p in problems)
    assert f"{escrow}: missing (its submission entry seals an explanation)" in problems


RULES = [
    ("[explanations]\nmax_markdown_bytes = 2000000\n",
     "rules.toml: explanations.max_markdown_bytes must be in [1, 1,048,576] (the largest "
     "explanation a closer reveals and a site embeds)"),
    ("[explanations]\nmax_notebook_bytes = 0\n",
     "rules.toml: explanations.max_notebook_bytes must be in [1, 8,388,608] (the largest "
     "explanation a closer reveals and a site embeds)"),
    ("[explanations]\nmax_bytes = 10\n",
     "rules.toml: [explanations] has no key 'max_bytes' (known: max_markdown_bytes, "
     "max_notebook_bytes)"),
    ("[explanations]\nmax_markdown_bytes = 1.5\n",
     "rules.toml: explanations.max_markdown_bytes must be a int, got 1.5"),
    ("explanations = 3\n", "rules.toml: [explanations] must be a table"),
    ("[solve]\nrequire_explanation = 1\n",
     "rules.toml: solve.require_explanation must be a bool, got 1"),
]


@pytest.mark.parametrize(("text", "want"), RULES, ids=[t.split("\n")[1] or t for t, _w in RULES])
def test_the_rulebook_refuses_bad_explanation_rules(text: str, want: str) -> None:
    from dixit.errors import RulesError

    with pytest.raises(RulesError) as exc:
        rulebook.parse_text(text)
    assert str(exc.value) == want


def test_the_rulebook_may_lower_the_caps() -> None:
    book = rulebook.parse_text("[solve]\nrequire_explanation = true\n[explanations]\n"
                               "max_notebook_bytes = 1000\n")
    assert book.require_explanation is True
    assert book.explanations.max_notebook_bytes == 1000
    assert book.explanations.max_markdown_bytes == 1 << 20
    assert rulebook.from_record(book.as_dict()) == book


def test_without_escrow_a_team_reveals_its_explanation_itself(tmp_path: Path, dixit: Runner,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """In a tournament without escrow, `dixit reveal` reveals the explanation with the
    program (from the team's key store); one never revealed is named by verify."""
    _use_keys(monkeypatch, tmp_path)
    league = make_league(tmp_path, dixit, ("alice", "bob", "carol"), escrow=False)
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    propose_small(league, dixit, "alice", steps=5)
    md = tmp_path / "why.md"
    md.write_text("# a ring\n")
    for team in ("bob", "carol"):
        git(league.clone(team), "pull", "-q", "--ff-only")
        dixit.ok("-C", league.clone(team), "submit", "--team", team, "--challenge", "alice",
                 PROGRAMS / "bob_for_alice.py", "--explanation", md)
    assert not list((league.clone("carol") / "rounds/001/submissions/bob").glob("*.escrow"))
    monkeypatch.setenv("DIXIT_NOW", "+3h")
    dixit.ok("-C", league.clone("alice"), "reveal", "--team", "alice")
    assert dixit.ok("-C", league.clone("bob"), "reveal", "--team", "bob", "--json").json()[
        "revealed"] == ["alice", "alice.explanation"]
    # carol reveals her program by hand and keeps her explanation back
    state = st.load(Ledger(league.clone("carol")).snapshot())
    salt, payload = keystore.load_secret(state.info.id, 1, "carol", "alice")
    from dixit.league import checks

    key = keystore.load(state.info.id, "team-carol")
    files = checks.reveal_files(state.rounds[1], "carol", "alice", salt, payload, "team",
                                key.signing)
    git(league.clone("carol"), "pull", "-q", "--ff-only")
    commit_files(league.clone("carol"), files, "reveal: carol's program only")
    git(league.clone("carol"), "push", "-q", "origin", "main")
    dixit.ok("-C", league.root, "score")
    git(league.root, "pull", "-q", "--ff-only")
    assert (league.root / "rounds/001/reveals/bob/alice.explanation.md").read_text() == \
        "# a ring\n"
    assert _problems(dixit, league.root, "--no-replay") == [
        "rounds/001/reveals/carol/alice.explanation: not revealed (no reveal and no escrow)"]
