"""Component tests: the worker's parts with the committed models (and fresh interpreters), in one process, no
network and no services. ``tests/unit`` needs neither model files nor subprocesses."""
