"""zoo-mgu: a zoo plugin package with the minimal gated unit cell (``mgu``), a beam-search predictor (``beam``) and a
command (``zoo mgu``)."""

from .beam import BeamOptions, BeamPredictor
from .mgu import MGU

__all__ = ["MGU", "BeamPredictor", "BeamOptions"]
