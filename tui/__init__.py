"""Waymark's terminal UI (Textual), built on ``client/`` only.

``waymark tui`` (:mod:`tui.cli`) runs :class:`tui.app.WaymarkApp`: screens in
``tui/screens``, reusable widgets in ``tui/widgets``, modal dialogs in ``tui/dialogs``,
styles in ``tui/waymark.tcss``. Screens get data as attributes from the app and post
messages up; only the app's workers touch the journal or the network.
"""
