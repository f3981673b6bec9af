"""zoo-mgu: a zoo plugin package with the minimal gated unit cell (``mgu``) and a beam-search predictor (``beam``)."""

from .beam import BeamOptions, BeamPredictor
from .mgu import MGU

__all__ = ["MGU", "BeamPredictor", "BeamOptions"]
