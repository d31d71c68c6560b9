"""The fake grid-intensity provider itself (fake_grid_provider.py): fast, no exporter involved."""

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from fake_grid_provider import FIXTURES, FakeGridProvider, Reply, fake_grid_provider  # noqa: F401 (fixture)


def get(fake, path, headers=None, timeout=5):
    """(status, headers, body) of a GET, error statuses included."""
    request = urllib.request.Request(fake.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_normal_answers_carry_the_value_in_each_providers_format(fake_grid_provider):
    fake = fake_grid_provider
    fake.set_intensity(321.5)
    status, _, body = get(fake, "/v3/carbon-intensity/latest?zone=DE")
    answer = json.loads(body)
    assert status == 200
    assert (answer["zone"], answer["carbonIntensity"], answer["temporalGranularity"]) == ("DE", 321.5, "hourly")
    assert answer["datetime"].endswith(":00:00.000Z")

    status, _, body = get(fake, "/intensity")
    period = json.loads(body)["data"][0]
    assert status == 200 and period["intensity"]["actual"] == 321.5 and period["to"].endswith("Z")

    status, _, body = get(fake, "/regional/regionid/7")
    region = json.loads(body)["data"][0]
    assert (region["regionid"], region["data"][0]["intensity"]["forecast"]) == (7, 321.5)

    assert get(fake, "/regional/regionid/18")[0] == 400
    assert get(fake, "/nowhere")[0] == 404


def test_scripted_replies_come_in_order_then_the_default(fake_grid_provider):
    fake = fake_grid_provider
    fake.enqueue(Reply(429, headers={"Retry-After": "7"}), Reply(500), Reply(body="{broken"),
                 Reply(fixture="uk-malformed.html", status=502), Reply(intensity=99999))
    status, headers, _ = get(fake, "/intensity")
    assert status == 429 and headers["Retry-After"] == "7"
    assert get(fake, "/intensity")[0] == 500
    assert get(fake, "/intensity")[2] == b"{broken"
    assert get(fake, "/intensity")[2] == (FIXTURES / "uk-malformed.html").read_bytes()
    assert json.loads(get(fake, "/intensity")[2])["data"][0]["intensity"]["forecast"] == 99999
    assert get(fake, "/intensity")[0] == 200
    fake.set_default(Reply(401))
    assert get(fake, "/intensity")[0] == 401
    fake.set_default(None)
    assert get(fake, "/intensity")[0] == 200


def test_requests_are_recorded_with_their_time_and_headers(fake_grid_provider):
    fake = fake_grid_provider
    before = time.monotonic()
    get(fake, "/v3/carbon-intensity/latest?zone=FR", headers={"auth-token": "t0k3n"})
    get(fake, "/intensity")
    first, second = fake.wait_for_requests(2, timeout=5)
    assert before <= first.time <= second.time <= time.monotonic()
    assert (first.path, first.query, first.headers["auth-token"]) == (ELECTRICITY_MAPS, {"zone": "FR"}, "t0k3n")
    assert fake.request_times("/intensity") == [second.time]
    with pytest.raises(AssertionError):
        fake.wait_for_requests(3, timeout=0.1)
    fake.clear_requests()
    assert fake.requests == []


ELECTRICITY_MAPS = "/v3/carbon-intensity/latest"


def test_a_required_token_is_checked():
    with FakeGridProvider(intensity=50, token="right") as fake:
        assert get(fake, ELECTRICITY_MAPS + "?zone=FR", headers={"auth-token": "wrong"})[0] == 401
        assert get(fake, ELECTRICITY_MAPS + "?zone=FR")[0] == 401
        assert get(fake, ELECTRICITY_MAPS + "?zone=FR", headers={"auth-token": "right"})[0] == 200
        assert get(fake, "/intensity")[0] == 200  # the UK API takes no token


def test_a_delayed_reply_makes_the_client_time_out_and_stop_does_not_wait_for_it():
    fake = FakeGridProvider().start()
    fake.enqueue(Reply(delay=30))
    started = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError, urllib.error.URLError)):
        get(fake, "/intensity", timeout=0.3)
    fake.stop()
    assert time.monotonic() - started < 5
