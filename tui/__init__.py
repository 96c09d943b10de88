"""Waymark's terminal UI (Textual), built on ``client/`` only. Arrives with issue 5."""
