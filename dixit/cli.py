"""The ``dixit`` command: parses, calls the library, renders. No rules or ledger logic here.

Exit codes: 0 success; 1 a refused action or a failed check (one line on stderr says what and
how to fix it, and the ledger is unchanged); 2 a usage error.
"""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from dixit.commands import challenges, datasets, league, reading  # noqa: F401  (registers them)
from dixit.commands._common import _ctx, app, err
from dixit.errors import DixitError

__all__ = ["_ctx", "app", "main", "run"]


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code. One line, exit 1 (2 for usage), for every expected
    failure; an unexpected one is a bug and keeps its traceback."""
    from typer.exceptions import TyperException

    try:
        code = app(args=argv, standalone_mode=False, prog_name="dixit")
    except DixitError as exc:
        err.print(Text("error: ", style="red bold") + Text(str(exc)))
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err.print(Text("aborted"))
        return 1
    except KeyboardInterrupt:
        err.print(Text("interrupted; the ledger is unchanged unless a commit was reported"))
        return 130
    except TyperException as exc:  # usage errors (bad option, missing argument): exit 2
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=sys.stderr)
        else:
            err.print(Text(f"error: {exc.format_message()}"))
        return exc.exit_code
    # Without standalone mode, typer returns a command's Exit code instead of raising it.
    return code if isinstance(code, int) else 0


def main() -> None:
    sys.exit(run())
