"""rnnstream: stateful RNN/GRU/LSTM inference on Kafka streams, recurrent state held in Redis.

This package is the serving side. It never imports torch: the offline side (``rnnstream_offline``,
under ``models/``) trains and exports models into the model repository, and this package reads only that.
"""

__version__ = "0.1.0"
