"""A pytest plugin for mutation testing runs only (``[tool.mutmut]`` in pyproject.toml).

It registers the Hypothesis profile ``mutation``: the same examples every run (a mutant's
verdict does not depend on luck), no example database, and no shrinking, since a mutant
is killed by the first failing example and shrinking it can take longer than the suite.
"""

from __future__ import annotations

from hypothesis import Phase, settings

settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
