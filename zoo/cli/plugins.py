"""``zoo plugins``: what is registered, by kind, who provides it, and what is broken (at import or in which hook)."""

from __future__ import annotations

import importlib.metadata
import json

import click

from ..options import describe
from ..registry import KINDS, get_registry


def _version_of(dist: str | None) -> str | None:
    try:
        return importlib.metadata.version(dist) if dist else None
    except importlib.metadata.PackageNotFoundError:
        return None


@click.command("plugins")
@click.argument("pattern", default="*")
@click.option("-v", "--verbose", is_flag=True, help="Also print each component's options: type, default and help.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object per component and per broken plugin.")
def plugins_command(pattern: str, verbose: bool, as_json: bool) -> None:
    """List registered components (names matching PATTERN, e.g. 'gr*')."""
    reg = get_registry()
    comps = [c for c in reg.components() if c.name in reg.names(c.kind, pattern)]
    if as_json:
        rows = []
        for c in comps:
            row = {"kind": c.kind, "name": c.name, "plugin": c.plugin, "distribution": c.dist, "version": _version_of(c.dist)}
            if c.alias_of:
                row["alias_of"] = c.alias_of
            if verbose:
                row["options"] = [o.__dict__ for o in describe(c.obj.Options)]
            rows.append(row)
        rows += [{"broken": b.name, "distribution": b.dist, "hook": b.hook, "reason": b.reason} for b in reg.broken]
        rows += [{"conflict": f"{kind} {name}", "claimed_by": [c.origin for c in claims]} for (kind, name), claims in reg.conflicts.items()]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    for kind in KINDS:
        group = [c for c in comps if c.kind == kind]
        if not group:
            continue
        click.echo(f"{kind}s:")
        for c in group:
            alias = f" (alias of {c.alias_of})" if c.alias_of else ""
            click.echo(f"  {c.name:<18} plugin {c.plugin}" + (f" [{c.dist}]" if c.dist else "") + alias)
            if verbose and not c.alias_of:
                for o in describe(c.obj.Options):
                    default = "required" if o.required else f"default {o.default!r}"
                    click.echo(f"      {o.name}: {o.type} ({default})  {o.help}")
    for b in reg.broken:
        click.echo(f"broken plugin {b.name}" + (f" [{b.dist}]" if b.dist else "") + f": {b.reason}")
    for (kind, name), claims in reg.conflicts.items():
        click.echo(f"conflict: {kind} '{name}' is registered by " + " and by ".join(c.origin for c in claims) + " (using it is an error)")
