"""``zoo plugins``: what is registered, by kind, who provides it, and what is broken."""

from __future__ import annotations

import importlib.metadata
import json

import click

from ..options import describe
from ..registry import KINDS, get_registry


def _dist_of(plugin: str) -> tuple[str | None, str | None]:
    for ep in importlib.metadata.entry_points(group="zoo"):
        if ep.name == plugin and ep.dist is not None:
            return ep.dist.name, ep.dist.version
    return None, None


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
            dist, version = _dist_of(c.plugin)
            row = {"kind": c.kind, "name": c.name, "plugin": c.plugin, "distribution": dist, "version": version}
            if c.alias_of:
                row["alias_of"] = c.alias_of
            if verbose:
                row["options"] = [o.__dict__ for o in describe(c.obj.Options)]
            rows.append(row)
        rows += [{"broken": b.name, "distribution": b.dist, "reason": b.reason} for b in reg.broken]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    for kind in KINDS:
        group = [c for c in comps if c.kind == kind]
        if not group:
            continue
        click.echo(f"{kind}s:")
        for c in group:
            dist, _ = _dist_of(c.plugin)
            alias = f" (alias of {c.alias_of})" if c.alias_of else ""
            click.echo(f"  {c.name:<18} plugin {c.plugin}" + (f" [{dist}]" if dist else "") + alias)
            if verbose and not c.alias_of:
                for o in describe(c.obj.Options):
                    default = "required" if o.required else f"default {o.default!r}"
                    click.echo(f"      {o.name}: {o.type} ({default})  {o.help}")
    for b in reg.broken:
        click.echo(f"broken plugin {b.name}" + (f" [{b.dist}]" if b.dist else "") + f": {b.reason}")
