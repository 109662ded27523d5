"""Hypothesis profiles: `ci` (the default) keeps `make test` fast; `fuzz` (used by
`make fuzz`, or CGRAPH_HYPOTHESIS_PROFILE=fuzz) runs many more examples."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=_SLOW_OK, print_blob=True)
settings.register_profile("fuzz", max_examples=5000, deadline=None, suppress_health_check=_SLOW_OK, print_blob=True)
settings.load_profile(os.environ.get("CGRAPH_HYPOTHESIS_PROFILE", "ci"))
