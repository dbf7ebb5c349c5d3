"""Suite-wide options: `--campaign`, and parallel runs with pytest-xdist.

`python -m pytest -q` runs the suite in `-n auto` worker processes when
pytest-xdist is installed (it is in the `test` extras; see pyproject.toml's
addopts).  Without pytest-xdist (or with `-p no:xdist`) the same command runs serially: `-n` and
`--dist` are then accepted here and ignored, so the addopts never break a
plain pytest.  `-n 0` runs serially with xdist installed.

`--campaign` runs the long campaigns at full size: tests/test_campaign.py
(generated pairs against the gcc oracle, the mutation run) and
tests/test_fuzz.py (fuzzed fixtures).  Without it they run a bounded sample,
the one CI runs: the first inputs of the same seeded sequences.  Tests that share one expensive up-front computation carry
`@pytest.mark.xdist_group(NAME)` so that one worker runs them all.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    parser.addoption("--campaign", action="store_true", default=False,
                     help="run the long campaigns at full size (default: CI's bounded sample)")
    if not pluginmanager.hasplugin("xdist"):  # not installed, or -p no:xdist
        group = parser.getgroup("xdist", "pytest-xdist is not active: these are ignored")
        # pytest reserves lowercase short options; xdist registers -n the same way.
        group._addoption("-n", "--numprocesses", dest="numprocesses", default=None,
                         help="ignored: pytest-xdist is not active")
        group.addoption("--dist", dest="dist", default="no",
                        help="ignored: pytest-xdist is not active")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")


@pytest.fixture(scope="session")
def full_campaign(request: pytest.FixtureRequest) -> bool:
    """True when the long campaigns run at full size (`--campaign`)."""
    return bool(request.config.getoption("--campaign"))
