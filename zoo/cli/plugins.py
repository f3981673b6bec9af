"""``zoo plugins``: what is registered, by kind, who provides it, and what is broken (at import or in which hook)."""

from __future__ import annotations

import dataclasses
import importlib.metadata

import click

from zoo.cli.output import echo_json
from zoo.options import describe
from zoo.reference import recipe_sections, render_text
from zoo.registry import KINDS, get_registry


def _version_of(dist: str | None) -> str | None:
    try:
        return importlib.metadata.version(dist) if dist else None
    except importlib.metadata.PackageNotFoundError:
        return None


@click.command("plugins")
@click.argument("pattern", default="*")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help=(
        "Also print every recipe key: the top level, the keys each section shares, and each component's own "
        "(type, default, help)."
    ),
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: one object per component and per broken plugin (and per section with -v).",
)
def plugins_command(pattern: str, verbose: bool, as_json: bool) -> None:
    """List registered components (names matching PATTERN, e.g. 'gr*'); with -v, every recipe key they take.

    \b
    Examples:
        zoo plugins                 # every component, by kind, and who provides it
        zoo plugins --verbose       # and every recipe key: type, default, help
        zoo plugins 'gr*' -v        # the keys a model with the gru cell takes
    """
    reg = get_registry()
    comps = [c for c in reg.components() if c.name in reg.names(c.kind, pattern)]
    if as_json:
        rows = []
        for c in comps:
            row = {
                "kind": c.kind,
                "name": c.name,
                "plugin": c.plugin,
                "distribution": c.dist,
                "version": _version_of(c.dist),
            }
            if c.alias_of:
                row["alias_of"] = c.alias_of
            if verbose:
                row["options"] = [o.__dict__ for o in describe(c.obj.Options)]
            rows.append(row)
        if verbose:
            rows += [
                {"section": s.name, "help": s.help, "keys": [dataclasses.asdict(k) for k in s.keys]}
                for s in recipe_sections(reg, pattern)
            ]
        rows += [{"broken": b.name, "distribution": b.dist, "hook": b.hook, "reason": b.reason} for b in reg.broken]
        rows += [
            {"conflict": f"{kind} {name}", "claimed_by": [c.origin for c in claims]}
            for (kind, name), claims in reg.conflicts.items()
        ]
        echo_json(rows)
        return
    if not comps:
        click.echo(f"no registered component matches {pattern!r}; zoo plugins lists them all", err=True)
    if verbose:
        text = render_text(recipe_sections(reg, pattern))
        if text:
            click.echo(text)
    else:
        for kind in KINDS:
            group = [c for c in comps if c.kind == kind]
            if group:
                click.echo(f"{kind}s:")
            for c in group:
                alias = f" (alias of {c.alias_of})" if c.alias_of else ""
                click.echo(f"  {c.name:<18} plugin {c.plugin}" + (f" [{c.dist}]" if c.dist else "") + alias)
    for b in reg.broken:
        click.echo(f"broken plugin {b.name}" + (f" [{b.dist}]" if b.dist else "") + f": {b.reason}")
    for (kind, name), claims in reg.conflicts.items():
        click.echo(
            f"conflict: {kind} '{name}' is registered by "
            + " and by ".join(c.origin for c in claims)
            + " (using it is an error)"
        )
