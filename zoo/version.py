"""zoo's version, in one place (pyproject.toml reads it from here), and the versions a weights file records."""

__version__ = "0.1.0"


def versions() -> dict[str, str]:
    """The versions recorded in a weights file's metadata: zoo's and torch's (without a build tag such as ``+cpu``)."""
    import torch  # only what saves weights asks, and it has torch loaded: ``zoo --version`` stays quick

    return {"zoo": __version__, "torch": torch.__version__.split("+")[0]}
