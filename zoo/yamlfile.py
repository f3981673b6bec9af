"""YAML as zoo reads it: ``yaml.safe_load``'s loader with YAML 1.2 floats, no sexagesimal numbers, no duplicate keys."""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["RecipeLoader", "DuplicateKeyError", "load_yaml"]

# YAML 1.2's floats (and YAML 1.1's underscores): a dot or an exponent, whose sign is optional (1e-3, 1E5, .5, -2.5e-4,
# 1_000.5), or .inf/.nan; never sexagesimal (1:2), and never the bare words inf/nan, which stay strings.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                               |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                               |[0-9][0-9_]*[eE][-+]?[0-9]+)
                        |[-+]?\.(?:inf|Inf|INF)
                        |\.(?:nan|NaN|NAN))$""",
    re.X,
)
# YAML 1.1's integers (binary, octal, decimal, hexadecimal, underscores) without the sexagesimal 1:2 (= 62).
_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
                      |[-+]?0[0-7_]+
                      |[-+]?(?:0|[1-9][0-9_]*)
                      |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_MERGE = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """One YAML mapping names a key twice; :attr:`problem` names the key and both lines."""


class RecipeLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, with YAML 1.2 floats, no sexagesimal numbers, and duplicate keys refused.

    PyYAML follows YAML 1.1, which reads ``1e-3`` as a string and ``1:2`` as 62; a recipe
    means the float 0.001 and, by mistake, the text "1:2" (then refused by type checking).
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        """A mapping, refusing a key that appears twice in it (``<<`` merges may still override)."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node)
                first = seen.setdefault(key, key_node)
                if first is not key_node:
                    raise DuplicateKeyError(
                        None,
                        None,
                        f"key {key!r} appears twice in one mapping, at lines {first.start_mark.line + 1} "
                        f"and {key_node.start_mark.line + 1}",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


RecipeLoader.yaml_implicit_resolvers = {  # a copy: SafeLoader's own table stays as it is
    first: [
        (tag, {"tag:yaml.org,2002:float": _FLOAT, "tag:yaml.org,2002:int": _INT}.get(tag, regexp))
        for tag, regexp in resolvers
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    """Parse one YAML document as ``yaml.safe_load`` does, but with :class:`RecipeLoader`'s numbers and duplicate-key
    check.

    :raises yaml.YAMLError: on invalid YAML (:class:`DuplicateKeyError` for a repeated key).
    """
    loader = RecipeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
