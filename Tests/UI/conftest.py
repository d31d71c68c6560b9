"""Fixtures of the UI tests: the end-to-end tests' exporter_factory (Tests/EndToEnd/conftest.py, reused as it is),
a headless chromium and a busy node (busy_node.py) shared by the tests of a session, and the folder screenshots are
kept in."""

import importlib.util
import json
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
END_TO_END = os.path.join(os.path.dirname(HERE), "EndToEnd")
sys.path.insert(0, END_TO_END)  # harness

_spec = importlib.util.spec_from_file_location("footprint_e2e_conftest", os.path.join(END_TO_END, "conftest.py"))
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
exporter_factory = _e2e.exporter_factory

import busy_node  # noqa: E402
from cdp import Browser, find_chromium  # noqa: E402
from harness import Exporter  # noqa: E402


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if find_chromium() is None:
        pytest.skip("chromium is not installed and could not be (Tests/Deploy/install-deps.sh installs Debian's "
                    "`chromium`; set CHROMIUM_BINARY to use another)")
    with Browser.launch(str(tmp_path_factory.mktemp("chromium"))) as browser:
        yield browser


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


@pytest.fixture
def artifacts(tmp_path):
    """Where screenshots go: $FOOTPRINT_ARTIFACTS when set (kept after the run), else the test's tmp_path."""
    directory = os.environ.get("FOOTPRINT_ARTIFACTS")
    if not directory:
        return str(tmp_path)
    os.makedirs(directory, exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def busy(tmp_path_factory):
    """One busy node (busy_node.py) for the session's tests, read only, with six points of history so the
    sparklines have a shape."""
    started = []

    def factory(*args, **kwargs):
        started.append(Exporter(*args, **kwargs))
        return started[-1]

    if not os.access(_e2e.BINARY, os.X_OK):
        pytest.fail(f"{_e2e.BINARY} is missing: run `make build` (make test does)")
    exporter, node = busy_node.start(factory, str(tmp_path_factory.mktemp("busy")))
    try:
        deadline = time.monotonic() + 30
        while len(json.loads(exporter.get("/api/v1/summary")[2])["history"]["cpu"]) < 6:
            assert time.monotonic() < deadline, "the history did not reach 6 points in 30 s"
            assert node.error is None, node.error
            time.sleep(0.2)
        yield exporter
    finally:
        node.stop()
        for exporter in started:
            exporter.cleanup()
        assert node.error is None, node.error
