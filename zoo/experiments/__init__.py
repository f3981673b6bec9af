"""Working with many runs: finding and summarising the run directories under a folder (:mod:`.summary`, ``zoo runs``)
and comparing runs side by side (:mod:`.compare`, ``zoo compare`` and ``zoo.compare``).

Everything here only reads run directories, as :mod:`zoo.train.rundir` defines them; it never writes into one.
"""
