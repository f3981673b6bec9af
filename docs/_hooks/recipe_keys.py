"""MkDocs hook: fill the recipe-keys page from the registered components' options (zoo.reference), so the docs
and ``zoo plugins --verbose`` print the same text."""

from __future__ import annotations

MARKER = "<!-- recipe-keys -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the marker on the recipe-keys page with the generated reference."""
    if MARKER not in markdown:
        return markdown
    from zoo.reference import render_markdown

    return markdown.replace(MARKER, render_markdown())
