"""The ``waymark`` command: the composition root, the only place that knows every layer."""
