"""Where the benchmarks' `--write` puts their figures: one "## " section of
docs/benchmarks.md, replaced whole (or appended when the file has none yet)."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(section: str, table: str, *, path: Path = BENCHMARKS_MD) -> None:
    """Replace `section` (its heading line up to the next "## ") with `table`, which
    starts with that heading."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: table + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + table + "\n"
    path.write_text(text)
