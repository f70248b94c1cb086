"""The GitHub Actions workflows every tournament carries (package data under templates/).

``validate.yml`` checks entries on pull requests, ``close-round.yml`` closes due rounds on a
schedule, ``publish.yml`` publishes the results site. ``dixit init`` writes them into a new
tournament; the engine repository keeps identical copies in its own ``.github/workflows``.
"""

from __future__ import annotations

from importlib import resources

TEMPLATE_DIR = ("templates", "github", "workflows")
TARGET_DIR = ".github/workflows"


def workflow_files() -> dict[str, bytes]:
    """Ledger path -> bytes of every workflow template, e.g. ``.github/workflows/validate.yml``."""
    folder = resources.files("dixit.league").joinpath(*TEMPLATE_DIR)
    return {f"{TARGET_DIR}/{item.name}": item.read_bytes()
            for item in sorted(folder.iterdir(), key=lambda i: i.name)
            if item.name.endswith(".yml")}
