"""Sharing: where models and corpora come from and go to.

The catalog (``registry.yaml``, the model side: names, recipes, weights, measured metrics), finding and
downloading weights (:mod:`zoo.hub.locate`), loading them (:mod:`zoo.hub.pretrained`), model cards, shipping
and verifying catalog entries, and the download caches.
"""
