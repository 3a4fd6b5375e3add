"""Idempotency in Redis (a real redis-server on a free port) and gateway replicas sharing it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from gateway_support import PLAIN_TOKEN, client_of, config, example_event, post_plain
from harness.fixtures import REDIS
from harness.paths import TESTS

import botwatch
from botwatch.gateway import create_app
from botwatch.gateway.idempotency import RedisStore

pytestmark = pytest.mark.skipif(not os.access(REDIS, os.X_OK), reason="redis-server not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def test_redis_store_claims_once_and_numbers_conversation_events(redis_url):
    store = RedisStore(redis_url, ttl=60, conversation_ttl=60)
    run = str(time.time_ns())
    assert await store.claim_events("t", [f"{run}a", f"{run}b", f"{run}a"]) == [True, True, False]
    assert await store.claim_events("t", [f"{run}a"]) == [False]
    assert await store.claim_events("other", [f"{run}a"]) == [True]  # another tenant's id space
    await store.release_events("t", [f"{run}a"])
    assert await store.claim_events("t", [f"{run}a"]) == [True]
    assert await store.count_events("t", [f"c{run}", f"c{run}", f"d{run}"]) == [1, 2, 1]
    pairs = [(f"{run}a", f"c{run}"), (f"{run}x", f"c{run}"), (f"{run}x", f"c{run}"), (f"{run}y", f"e{run}")]
    assert await store.claim_and_count("t", pairs) == [0, 3, 0, 1]
    assert await store.ping()
    await store.close()


async def test_gateway_with_redis_deduplicates_across_instances(bw, receiver, redis_url):
    first, second = create_app(config(redis_url=redis_url)), create_app(config(redis_url=redis_url))
    event = example_event(event_id=f"evt_{time.time_ns()}", session_id=f"sess_{time.time_ns()}")
    async with client_of(first) as a, client_of(second) as b:
        assert (await post_plain(a, event)).json()["accepted"] == 1
        again = (await post_plain(b, event)).json()
        ready = await b.get("/health/ready")
    assert again["duplicates"] == 1
    assert ready.json()["checks"]["store"] is True


async def test_redis_token_bucket_spends_refills_and_refuses_the_impossible(redis_url):
    store = RedisStore(redis_url, ttl=60, conversation_ttl=60)
    tenant = f"bucket-{time.time_ns()}"
    assert await store.take_tokens(tenant, 8, 20.0, 10) == 0
    wait = await store.take_tokens(tenant, 5, 20.0, 10)  # 2 left (plus a little refill): 3 short at 20/s
    assert 0 < wait <= 0.15
    assert await store.take_tokens(tenant, 11, 20.0, 10) == -1  # larger than the burst: never
    time.sleep(wait + 0.05)
    assert await store.take_tokens(tenant, 5, 20.0, 10) == 0  # refilled on the server's clock
    assert await store.take_tokens(f"other-{tenant}", 10, 20.0, 10) == 0  # each tenant its own bucket
    await store.close()


async def test_a_tokens_rate_limit_holds_across_replicas(bw, receiver, redis_url):
    """Two replicas share one Redis: together they accept what one would, not twice as much."""
    from gateway_support import tenants

    limited = dict(redis_url=redis_url, tenants=tenants(rate=0.5, burst=6))
    first, second = create_app(config(**limited)), create_app(config(**limited))
    run = time.time_ns()
    async with client_of(first) as a, client_of(second) as b:
        statuses = []
        for n in range(10):  # alternating replicas, one event each
            response = await post_plain(a if n % 2 else b, example_event(event_id=f"evt_{run}_{n}"))
            statuses.append(response.status_code)
    assert statuses.count(200) == 6 and statuses[6:] == [429] * 4


async def test_redis_down_refuses_with_503_and_is_not_ready(bw):
    app = create_app(config(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    async with client_of(app) as client:
        response = await post_plain(client, example_event())
        ready = await client.get("/health/ready")
    assert response.status_code == 503 and response.json()["error"] == "store_unavailable"
    assert ready.status_code == 503


def test_two_replicas_emit_one_root_per_conversation(receiver, redis_url, tmp_path):
    """Two gateway processes, one Redis: the events of a conversation spread over both, one root span."""
    receiver.clear()
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(f'[[tenants]]\nid = "plain"\ntoken = "{PLAIN_TOKEN}"\nconversation_prefix = ""\n')
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "BOTWATCH_SECRET": "replica-secret-0123456789",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_BLRP_SCHEDULE_DELAY": "100",
    }
    ports = [free_port(), free_port()]
    replicas = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "botwatch.cli.gateway_command",
                "--port",
                str(port),
                "--tenants",
                str(tenants),
                "--redis",
                redis_url,
            ],
            env=env,
            stderr=subprocess.PIPE,
            cwd=TESTS,
        )
        for port in ports
    ]
    try:
        for port in ports:
            wait_port(port, timeout=20)
        run = time.time_ns()
        conversations = [f"sess_replica_{run}_{c}" for c in range(10)]

        def post(job: tuple[int, int]) -> int:
            conversation, n = job
            event = example_event(
                event_id=f"evt_{run}_{conversation}_{n}",
                session_id=conversations[conversation],
                action=None,
                crm_id=None,
            )
            request = urllib.request.Request(
                f"http://127.0.0.1:{ports[n % 2]}/v1/events",
                data=json.dumps(event).encode(),
                headers={"Authorization": f"Bearer {PLAIN_TOKEN}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(post, [(c, n) for n in range(4) for c in range(10)]))
        assert set(statuses) == {200}
    finally:
        for replica in replicas:
            replica.terminate()  # uvicorn shuts down gracefully and botwatch flushes at exit
        for replica in replicas:
            replica.wait(timeout=20)
    receiver.wait_for(lambda: sum(1 for s in receiver.spans() if s["name"] == "turn") >= 40, timeout=15)
    spans = receiver.spans()
    roots = [s for s in spans if s["name"] == "conversation"]
    assert len(roots) == 10
    assert len({s["trace_id"] for s in roots}) == 10
    assert {s["resource"].get("service.name") for s in spans} == {"botwatch-gateway"}
    botwatch.shutdown()
