"""The reference merge: today's fold, frozen, for the property test of the merge rewrite.

These modules are verbatim copies of ``sync/fold.py``, ``sync/decide.py``,
``sync/views.py``, ``sync/gamify.py``, ``sync/outbox.py`` and ``sync/merge.py`` as they
were before the fold's state representation was rewritten (commit ``52300f6``; those
modules now live in ``sync/merge/`` and ``sync/merge.py`` is ``sync/merge/batch.py``). Only
their imports changed: they import each other here, so the reference folds into, decides
on, views, awards and derives domain events from its own ``UserState`` / ``GamifyState``;
everything that is not the fold's state (events, catalog, HLC, messages, codec, errors)
still comes from ``sync``.

``tests/sync/merge/test_reference_merge.py`` runs random histories through
``sync.merge.batch`` (live) and through ``tests.reference.merge`` (frozen) and asserts the
same entries, outbox events, watermarks, counts and learner views.

NEVER CHANGE THIS PACKAGE. It is the frozen behaviour of today's fold: the specification
the new merge must reproduce exactly. Fixing a "bug" here would silently redefine what the
rewrite is checked against; a deliberate behaviour change belongs in ``sync/`` together
with a test that says so (and, if the property test then disagrees by design, a narrowed
comparison in the test, not an edit here).

One deliberate change was made here, marked "issue 11" where it is: time the server can
trust (``docs/protocol.md``, "Time"). An event's ``at`` beyond the allowed skew after its
receipt is taken at the receipt (with an ``event.clamped`` note), streak days, points'
times and weeks never credit a time after the server's, and a cool-down must have passed
by the device's times and by the server's receipts. It changes what every history with a
device clock ahead of the server's gives, so a narrowed comparison would have checked
almost nothing; the reference states the rule on its own, in its own words.
"""
