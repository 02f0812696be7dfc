from __future__ import annotations

import os

import pytest
from hypothesis import Phase, settings

from lowstakes import Scenario

# Hypothesis is deterministic unless asked otherwise: the same examples on every run (CI
# included) and no example database. HYPOTHESIS_PROFILE=dev explores at random (and keeps
# the database in .hypothesis/, which git ignores).
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.register_profile("mutation", parent=settings.get_profile("ci"),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    # Under mutation testing (mutmut names the mutant in MUTANT_UNDER_TEST, set in each of its
    # runs) a failing example is all that counts: shrinking it can take minutes per mutant.
    if os.environ.get("MUTANT_UNDER_TEST") not in (None, "", "stats", "fail", "list_all_tests"):
        settings.load_profile("mutation")

LOGREG = {"model": "linear_model.LogisticRegression", "preprocess": ["preprocessing.StandardScaler"]}


def make_scenario(**overrides) -> Scenario:
    """A small valid SEA scenario; keyword arguments replace top-level fields."""
    data = {
        "name": "test",
        "horizon": 1000,
        "seeds": 2,
        "seed": 7,
        "stream": {"source": "sea", "params": {"variant": 0}, "label_noise": 0.1,
                   "shifts": [{"at": 500, "params": {"variant": 3}}]},
        "objectives": {"aligned": {"feedback": "truth"}, "misaligned": {"feedback": "stale"}},
        "learners": {"logreg": LOGREG},
        "windows": {"smoothing": 100},
    }
    data.update(overrides)
    return Scenario.from_dict(data)


@pytest.fixture
def scenario() -> Scenario:
    return make_scenario()
