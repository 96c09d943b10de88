"""The device library: the local journal, the sync connection and the ``waymark`` device
commands. Start from :class:`client.api.Device`. It never imports ``server``, ``tui`` or ``cli``.
"""
