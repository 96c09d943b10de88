"""Waymark's pure core: wire types, codec, HLC, catalog, fold and sans-I/O protocol sessions.

Nothing here does I/O, reads a clock or makes random ids: time and ids are parameters.
Both the server and the device fold with this code, so an offline device shows exactly
what the server will compute from the same facts.
"""
