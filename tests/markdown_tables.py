"""Read back the Markdown tables that the benchmark scripts write (shared by their tests)."""

from __future__ import annotations


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``text``, in order, as its data rows {header: cell}."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip("|").split("|")])
        elif block:
            tables.append([dict(zip(block[0], row)) for row in block[2:]])
            block = []
    return tables
