"""The SQLite idempotency store: per-tenant capacity, expiry on the wall clock, survival across reopening."""

from __future__ import annotations

from botwatch.gateway.sqlite_store import SqliteStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def store(path, clock, per_tenant=100) -> SqliteStore:
    return SqliteStore(path, ttl=600, conversation_ttl=3600, per_tenant=per_tenant, clock=clock)


async def test_one_tenant_flooding_ids_never_evicts_another_tenants(tmp_path):
    clock = Clock()
    state = store(tmp_path / "state.sqlite", clock, per_tenant=100)
    assert await state.claim_events("quiet", ["kept"]) == [True]
    for chunk in range(10):  # 1 000 ids, ten times the capacity
        clock.now += 1
        fresh = await state.claim_events("noisy", [f"junk{chunk}_{n}" for n in range(100)])
        assert all(fresh)
    assert await state.claim_events("quiet", ["kept"]) == [False]  # still remembered
    assert await state.claim_events("noisy", ["junk9_99"]) == [False]  # its newest ids are kept
    assert await state.claim_events("noisy", ["junk0_0"]) == [True]  # its oldest were forgotten first
    await state.close()


async def test_ids_expire_after_the_ttl_and_survive_reopening(tmp_path):
    clock = Clock()
    path = tmp_path / "state.sqlite"
    first = store(path, clock)
    assert await first.claim_events("t", ["a", "b", "a"]) == [True, True, False]
    assert await first.count_events("t", ["c1", "c1", "c2"]) == [1, 2, 1]
    await first.release_events("t", ["b"])
    await first.close()
    again = store(path, clock)  # a restart
    assert await again.claim_events("t", ["a", "b"]) == [False, True]
    assert await again.claim_events("other", ["a"]) == [True]
    assert await again.count_events("t", ["c1"]) == [3]
    # What a request does: claim and number in one transaction (0: a duplicate).
    assert await again.claim_and_count("t", [("a", "c1"), ("x", "c1"), ("x", "c1"), ("y", "c9")]) == [0, 4, 0, 1]
    clock.now += 601
    assert await again.claim_events("t", ["a"]) == [True]  # past the TTL: a new delivery
    clock.now += 3600
    assert await again.count_events("t", ["c1"]) == [1]  # a forgotten conversation starts again
    await again.close()


async def test_capacity_counts_stay_exact_after_a_restart(tmp_path):
    clock = Clock()
    path = tmp_path / "state.sqlite"
    first = store(path, clock, per_tenant=10)
    for n in range(10):
        clock.now += 1
        await first.claim_events("t", [f"e{n}"])
    await first.close()
    again = store(path, clock, per_tenant=10)
    clock.now += 1
    await again.claim_events("t", ["e10"])  # one over: the oldest goes
    assert await again.claim_events("t", ["e10", "e9"]) == [False, False]
    assert await again.claim_events("t", ["e0"]) == [True]
    await again.close()
