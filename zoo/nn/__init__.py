"""The network: cells, the one time loop, stacks and the language model built from them.

A :class:`~zoo.nn.cell.Cell` states one step's equations; :mod:`zoo.nn.loop` runs them over time
(forward with caches, backward by hand); :class:`~zoo.nn.stack.CellStack` and
:class:`~zoo.nn.model.LanguageModel` compose them into layers, directions, an encoder and a decoder,
in PyTorch's weight layout; :mod:`zoo.nn.npmodel` is the same model in NumPy for the numpy backend.
"""
