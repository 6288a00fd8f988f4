"""The ``rnnstream`` command line."""
