"""The pictures of ``dixit show`` and the site, drawn from real domains and known outputs.

Each picture kind is produced for its domain and output (a grid, an image dataset made here,
a token sequence, a per-position distribution, and the per-class fallback), its PNG decoded,
its size checked and its figures (agreement, KL) checked against an independent computation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dixit.data import domains
from dixit.errors import ChallengeError
from dixit.rules import metrics, outputs
from dixit.views import figures, pictures
from dixit.views.figures import Source

PNG = b"\x89PNG\r\n\x1a\n"


def _pixels(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG
    assert path.stat().st_mode & 0o777 == 0o644
    return matplotlib.image.imread(str(path))[..., :3]


def _count(pixels: np.ndarray, rgb: tuple[float, float, float], tol: float = 0.03) -> int:
    return int((np.abs(pixels - np.array(rgb)) < tol).all(axis=-1).sum())


def _size(pixels: np.ndarray) -> tuple[float, float]:
    """(width, height) in inches."""
    return pixels.shape[1] / pictures.DPI, pixels.shape[0] / pictures.DPI


def _sources(truth: np.ndarray, model: np.ndarray, **programs: np.ndarray | str) -> list[Source]:
    out = [Source.array("labeler (the truth)", "truth", "labeler", truth),
           Source.array("published model", "model", "model", model)]
    for team, p in programs.items():
        if isinstance(p, str):
            out.append(Source.array(f"{team}'s program", team, "program", None, p))
        else:
            out.append(Source.array(f"{team}'s program", team, "program", p))
    return out


def _flip(a: np.ndarray, every: int) -> np.ndarray:
    b = a.copy()
    b.flat[::every] = 1 - b.flat[::every] if a.max() <= 1 else 0
    return b


def test_grid_label_maps_have_axes_a_and_b_and_a_legend(tmp_path: Path) -> None:
    dom = domains.parse("grid:30x20")
    x = dom.all().numpy()
    truth = (x[:, 0] < 12).astype(np.uint8)  # a vertical band: a runs across
    model = _flip(truth, 10)
    drawn = figures.draw(dom, outputs.BINARY, tmp_path / "grid.png",
                         _sources(truth, model, bob="returned shape (5,) for a batch of 600"))
    assert drawn.picture == "maps"
    rows = {r["title"]: r for r in drawn.series}
    assert rows["labeler (the truth)"]["agreement"] == 1.0
    assert rows["published model"]["agreement"] == round(float((model == truth).mean()), 6)
    assert rows["bob's program"] == {"title": "bob's program", "agreement": None, "kl": None,
                                     "against": None,
                                     "error": "returned shape (5,) for a batch of 600"}
    pixels = _pixels(tmp_path / "grid.png")
    width, height = _size(pixels)
    assert abs(width - 3 * pictures.PANEL_WIDTH) < 0.05
    assert abs(height - pictures.PANEL_HEIGHT - pictures.LEGEND_HEIGHT) < 0.05
    red = _count(pixels, pictures.WRONG)
    assert red > 60, red  # the model's 60 mistakes, and the legend's red patch
    # label 1 is the band a < 12: on the left of the labeler's panel (a across), not the bottom
    blue = (np.abs(pixels - np.array(pictures.PALETTE[1])) < 0.03).all(axis=-1)
    cols = np.flatnonzero(blue[:, : pixels.shape[1] // 3].any(axis=0))
    panel = np.flatnonzero((np.abs(pixels - np.array(pictures.PALETTE[0])) < 0.03)
                           .all(axis=-1)[:, : pixels.shape[1] // 3].any(axis=0))
    assert cols.max() < panel.max()  # blue ends before the panel's light part does


def test_more_classes_get_their_own_colours_and_a_legend(tmp_path: Path) -> None:
    dom = domains.parse("grid:12x12")
    x = dom.all().numpy()
    truth = (x[:, 0] // 4).astype(np.uint8)  # classes 0, 1, 2 in bands
    figures.draw(dom, outputs.parse("classes:3"), tmp_path / "three.png",
                 _sources(truth, truth))
    pixels = _pixels(tmp_path / "three.png")
    for c in range(3):  # each class colour is drawn (the maps and the legend's patch)
        assert _count(pixels, pictures.PALETTE[c]) > 200, c
    assert _count(pixels, pictures.WRONG) < 200  # no mistakes: only the legend's patch
    # more classes than the palette: a red-free scale and a colour bar
    many = ((x[:, 0] + x[:, 1]) % 20).astype(np.uint8)
    figures.draw(dom, outputs.parse("classes:20"), tmp_path / "many.png",
                 _sources(many, many))
    table = pictures.colors(20)
    assert len(table) == 21 and not any(np.allclose(row, pictures.WRONG) for row in table[:-1])
    wide = _pixels(tmp_path / "many.png")
    assert _size(wide)[1] > _size(pixels)[1]  # the colour bar's room


def _image_domain(root: Path, n: int = 96) -> domains.Domain:
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(3)  # synthetic 8x8 grey images, made here
    images = torch.randint(0, 256, (n, 8, 8), generator=gen, dtype=torch.uint8)
    (root / "scoring/data").mkdir(parents=True)
    save_file({"inputs": images}, str(root / "scoring/data/img.safetensors"))
    return domains.parse("dataset:scoring/data/img.safetensors", root=root)


def test_image_dataset_draws_sample_inputs_with_their_labels(tmp_path: Path) -> None:
    dom = _image_domain(tmp_path)
    assert figures.choose(dom, per_position=False) == "images"
    x = dom.all().numpy()
    truth = (x[:, :2, :2].mean(axis=(1, 2)) > 127).astype(np.uint8)
    model = _flip(truth, 7)
    alice = _flip(truth, 31)
    drawn = figures.draw(dom, outputs.BINARY, tmp_path / "images.png",
                         _sources(truth, model, alice=alice))
    assert drawn.picture == "images"
    rows = {r["title"]: r["agreement"] for r in drawn.series}
    assert rows["published model"] == round(float((model == truth).mean()), 6)
    assert rows["alice's program"] == round(float((alice == truth).mean()), 6)
    pixels = _pixels(tmp_path / "images.png")
    width, height = _size(pixels)
    assert 7.5 < width < 8.5 and 6 < height < 10  # 6 columns x 4 rows of samples
    assert _count(pixels, pictures.WRONG, 0.05) > 500  # red frames and labels of mistakes
    # half the samples are mistakes (some source disagrees), the rest spread over the others
    wrong = (model != truth) | (alice != truth)
    picked = figures.samples(wrong)
    assert len(picked) == figures.SAMPLES == 24
    assert sum(bool(wrong[i]) for i in picked) == min(12, int(wrong.sum()))


def test_image_shapes() -> None:
    assert figures.image_shape((28, 28)) and figures.image_shape((1, 8, 8))
    assert figures.image_shape((8, 8, 3)) and figures.image_shape((3, 32, 32))
    assert not figures.image_shape((784,)) and not figures.image_shape((5, 8, 8))


def test_token_sequence_draws_agreement_per_position(tmp_path: Path) -> None:
    dom = domains.parse("tokens:4x6")
    x = dom.all().numpy()
    truth = np.maximum.accumulate(x, axis=1).astype(np.uint8)  # the running maximum
    model = truth.copy()
    model[:, 3:][np.arange(len(x))[:, None].repeat(3, 1) % 4 == 0] = 0  # wrong late, 1 in 4
    identity = x.astype(np.uint8)
    drawn = figures.draw(dom, outputs.parse("sequence:4"), tmp_path / "tokens.png",
                         _sources(truth, model, alice=identity), threshold=0.99)
    assert drawn.picture == "positions"
    rows = {r["title"]: r for r in drawn.series}
    assert rows["alice's program"]["agreement"] == round(float((identity == truth).mean()), 6)
    assert rows["published model"]["agreement"] == round(float((model == truth).mean()), 6)
    assert rows["published model"]["kl"] is None  # class ids: no KL
    pixels = _pixels(tmp_path / "tokens.png")
    width, height = _size(pixels)
    assert abs(width - pictures.CHART_WIDTH) < 0.05 and abs(height - pictures.CHART_HEIGHT) < 0.05
    for colour in (pictures.SERIES_COLORS[0], pictures.MODEL_STYLE["color"]):
        rgb = tuple(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        assert _count(pixels, rgb, 0.04) > 50, colour  # alice's line and the model's


def test_distribution_draws_argmax_agreement_and_kl_per_position(tmp_path: Path) -> None:
    dom = domains.parse("tokens:4x5")
    x = dom.all().numpy()
    ref = np.eye(4, dtype=np.float32)[x] * 4  # logits: (N, L, 4)
    rng = np.random.default_rng(0)
    model = (ref + rng.normal(0, 2, ref.shape)).astype(np.float32)
    soft = ref * 0.5  # the same argmax, less sure
    drawn = figures.draw(dom, outputs.parse("distribution:4"), tmp_path / "dist.png",
                         _sources(ref, model, carol=soft))
    assert drawn.picture == "positions"
    rows = {r["title"]: r for r in drawn.series}
    assert rows["carol's program"]["agreement"] == 1.0
    kl = metrics.metric("kl", reference="logits", submission="logits")
    kl.update(ref, soft)
    assert rows["carol's program"]["kl"] == pytest.approx(kl.result(), rel=1e-5)
    assert rows["carol's program"]["kl"] > 0.05
    assert rows["published model"]["agreement"] == round(
        float((model.argmax(-1) == x).mean()), 6)
    width, _height = _size(_pixels(tmp_path / "dist.png"))
    assert width > 1.5 * pictures.CHART_WIDTH  # two charts: agreement and KL


def test_other_domains_draw_agreement_per_class(tmp_path: Path) -> None:
    dom = domains.parse("tokens:3x3")
    x = dom.all().numpy()
    truth = (x[:, 0] == x[:, 1]).astype(np.uint8)
    zeros = np.zeros_like(truth)
    drawn = figures.draw(dom, outputs.BINARY, tmp_path / "classes.png",
                         _sources(truth, truth, bob=zeros))
    assert drawn.picture == "classes"
    assert {r["title"]: r["agreement"] for r in drawn.series}["bob's program"] == \
        round(float((zeros == truth).mean()), 6)
    width, height = _size(_pixels(tmp_path / "classes.png"))
    assert width >= pictures.CHART_WIDTH - 0.05 and height > pictures.CHART_HEIGHT


def test_a_chart_without_its_reference_is_refused_in_one_line(tmp_path: Path) -> None:
    dom = domains.parse("tokens:4x6")
    model = np.zeros((dom.size, 6), dtype=np.uint8)
    sources = [Source.array("labeler (the truth)", "truth", "labeler", None,
                            "not revealed yet", drawn=False),
               Source.array("published model", "model", "model", model)]
    with pytest.raises(ChallengeError, match=r"^a positions chart compares outputs with the "
                       r"labeler, whose outputs are not available \(labeler \(the truth\): "
                       r"not revealed yet\)$"):
        figures.draw(dom, outputs.parse("sequence:4"), tmp_path / "x.png", sources)
    assert not (tmp_path / "x.png").exists()
    # a map draws the model alone (nothing compared)
    grid = domains.parse("grid:5x5")
    drawn = figures.draw(grid, outputs.BINARY, tmp_path / "m.png",
                         [sources[0], Source.array("published model", "model", "model",
                                                   np.ones(25, dtype=np.uint8))])
    assert [r["title"] for r in drawn.series] == ["published model"]
    assert drawn.series[0]["agreement"] is None


def test_emulate_compares_with_the_model(tmp_path: Path) -> None:
    dom = domains.parse("grid:10x10")
    model = (np.arange(100) % 3 == 0).astype(np.uint8)
    truth = np.zeros(100, dtype=np.uint8)
    drawn = figures.draw(dom, outputs.BINARY, tmp_path / "e.png",
                         _sources(truth, model, dave=model), reference="model")
    rows = {r["title"]: r for r in drawn.series}
    assert rows["dave's program"]["agreement"] == 1.0
    assert rows["dave's program"]["against"] == "published model"
    assert rows["labeler (the truth)"]["agreement"] == round(float((truth == model).mean()), 6)


def test_team_text_is_not_mathtext(tmp_path: Path) -> None:
    """A team name or an error with dollar signs is drawn as text, not parsed (it would fail)."""
    dom = domains.parse("grid:4x4")
    truth = np.zeros(16, dtype=np.uint8)
    figures.draw(dom, outputs.BINARY, tmp_path / "t.png",
                 _sources(truth, truth, **{"$\\frac{": r"$\undefined{x}$ ^_^ $"}))
    assert (tmp_path / "t.png").exists()
