"""The harness itself: the backend stand-in behaves like one, the stack is wired as configured."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from harness import LOKI_LOGS_PATH, TEMPO_TRACES_PATH, Alertmanager, OtlpCapture, Prometheus
from harness.load import log_request, span_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def capture() -> OtlpCapture:
    server = OtlpCapture()
    yield server
    server.stop()


def post(url: str, body: bytes) -> int:
    return requests.post(url, data=body, headers=PROTOBUF, timeout=5).status_code


def test_capture_answers_only_at_the_tempo_and_loki_paths(capture: OtlpCapture) -> None:
    spans = span_request("t", range(3), b"\x01" * 16).SerializeToString()
    logs = log_request("t", range(2), b"\x01" * 16).SerializeToString()
    assert post(capture.url + TEMPO_TRACES_PATH, spans) == 200
    assert post(capture.url + LOKI_LOGS_PATH, logs) == 200
    assert post(capture.url + "/v1/logs", logs) == 404  # Loki has no such path
    assert post(capture.url + TEMPO_TRACES_PATH, b"\xff\xff garbage") == 400
    assert (capture.span_count(), capture.log_count()) == (3, 2)
    assert spans in capture.raw_bytes(TEMPO_TRACES_PATH)


def test_capture_can_be_unavailable_or_down_and_come_back_on_the_same_port(capture: OtlpCapture) -> None:
    body = span_request("t", range(1), b"\x02" * 16).SerializeToString()
    url = capture.url + TEMPO_TRACES_PATH
    capture.set_unavailable(503)
    assert post(url, body) == 503
    assert capture.refused(TEMPO_TRACES_PATH) == 1
    capture.set_unavailable(None)

    port = capture.port
    capture.go_down()
    with pytest.raises(requests.ConnectionError):
        post(url, body)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    capture.come_up()
    assert capture.port == port
    assert post(url, body) == 200
    assert capture.span_count() == 1


@pytest.mark.stack
def test_prometheus_runs_the_repo_rules(prometheus: Prometheus) -> None:
    groups = prometheus.client.rules()
    files = {g["file"].rsplit("/", 1)[-1] for g in groups}
    assert files >= {"thresholds.yml", "pipeline.yml", "conversations.yml"}, files
    assert all(rule["health"] != "err" for g in groups for rule in g["rules"]), groups


@pytest.mark.stack
def test_prometheus_sends_to_the_session_alertmanager(prometheus: Prometheus, alertmanager: Alertmanager) -> None:
    def discovered() -> list:
        data = requests.get(f"{prometheus.url}/api/v1/alertmanagers", timeout=5).json()["data"]
        return [a["url"] for a in data["activeAlertmanagers"]]

    deadline = time.monotonic() + 20  # service discovery updates every 5 s
    while not any(alertmanager.target in url for url in discovered()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert any(alertmanager.target in url for url in discovered()), discovered()
