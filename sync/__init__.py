"""Waymark's pure core.

* :mod:`sync.merge`: a push's merge (``batch``: slice + batch + catalog + now → Outcome)
  and what it is made of: the fold of facts (``fold``), the server's decisions
  (``decide``), the settled horizon (``horizon``), the progress tables' rows
  (``projections``) and the domain events (``outbox``).
* :mod:`sync.protocol`: the sans-I/O sessions of both ends (``sessions``), the messages
  (``messages``) and their codec (``codec``).
* ``catalog``, ``events``, ``hlc``, ``views`` (what a learner sees, from the state),
  ``gamify`` (points, badges, streaks, certificates, levels), ``errors``.

Nothing here does I/O, reads a clock or makes random ids: time and ids are parameters.
Both the server and the device fold with this code, so an offline device shows exactly
what the server will compute from the same facts.
"""
