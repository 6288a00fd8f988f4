"""Feature front-ends shared by training, producers and ``rnnstream predict``.

``rnnstream.features.text`` is pure Python; ``rnnstream.features.audio`` needs the ``audio`` extra (librosa).
"""
