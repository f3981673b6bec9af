"""Working with many runs: finding and summarising the run directories under a folder (:mod:`.summary`, ``zoo runs``),
comparing runs side by side (:mod:`.compare`, ``zoo compare`` and ``zoo.compare``), and searching hyperparameters on
Optuna (``zoo sweep``, ``zoo.sweep``: :mod:`.specs` its ``--param`` specs, :mod:`.study` a sweep's folder and study,
:mod:`.trials` a worker, :mod:`.sweep` the command, :mod:`.sweep_report` its report).

The summaries and comparisons only read run directories, as :mod:`zoo.train.rundir` defines them; a sweep makes its
trials' run directories through :func:`zoo.run`, as any run is made.
"""
