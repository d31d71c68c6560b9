import os

import pytest

from harness import BINARY, Exporter


@pytest.fixture
def exporter_factory():
    """Starts exporters and guarantees they are stopped and their trees removed."""
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"{BINARY} is missing: run `make build` (make test does)")
    started = []

    def start(*args, **kwargs):
        exporter = Exporter(*args, **kwargs)
        started.append(exporter)
        return exporter

    yield start
    for exporter in started:
        exporter.cleanup()
