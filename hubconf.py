"""torch.hub entry points: ``torch.hub.load("<repo or project dir>", "<catalog name>")`` returns a :class:`zoo.Model`.

Every model in ``registry.yaml`` is an entry point. zoo must be installed (``pip install -e .``),
since its cells, datasets and predictors register through the package's entry points.
``model.module`` is the ``torch.nn.Module``; ``model.generate("分开", 50)`` continues text.
"""

dependencies = ["torch", "numpy", "pluggy", "yaml", "click", "safetensors"]

import zoo  # noqa: E402
from zoo.hub.catalog import read_catalog  # noqa: E402


def _entry_point(name: str, description: str):
    def load(backend: str | None = None) -> zoo.Model:
        return zoo.load(name, backend=backend)

    load.__name__ = load.__qualname__ = name
    load.__doc__ = (
        f"{description}\n\n:param backend: run on another backend (torch, numpy, cuda).\n:returns: a zoo.Model."
    )
    return load


globals().update({name: _entry_point(name, str(e.get("description", name))) for name, e in read_catalog().items()})
