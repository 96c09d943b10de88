"""The merge of a push, pure: :func:`sync.merge.batch.merge` is the one entry point.

``batch`` runs dedupe → check → fold → decide → activity → awards for one batch and
returns an ``Outcome``; ``settle`` does the same for the server's own decisions.
``fold`` applies facts and decisions to a learner's state, ``decide`` makes the decisions
facts lead to, ``horizon`` sums evidence below the settled horizon, ``projections`` says
which progress-table rows changed, ``outbox`` which domain events happened.

This package imports nothing at import time, so ``sync.views`` and ``sync.gamify`` can use
``sync.merge.fold`` without a cycle.
"""
