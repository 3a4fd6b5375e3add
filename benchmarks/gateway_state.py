"""What the gateway's durable idempotency costs a request: the SQLite store vs ids in a dict, same run.

    .venv/bin/python benchmarks/gateway_state.py [--requests 3000] [--batch 1] [--rounds 3]

Each request claims ``--batch`` new event ids and numbers their conversations
(``claim_and_count``, what ``POST /v1/events`` does once per request):

* baseline: a dict of ids and a dict of conversation counters, on the event
  loop (what the in-memory store did before the SQLite one);
* sqlite: ``SqliteStore`` on a file in a temporary directory (WAL, one
  committed transaction per request on its worker thread), as the gateway
  runs it without Redis.

Prints CPU µs (process time, all threads) and wall µs per request and per
event, and the sqlite/baseline ratios, median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from botwatch.gateway.sqlite_store import SqliteStore


class DictStore:
    def __init__(self) -> None:
        self.ids: set[tuple[str, str]] = set()
        self.conversations: dict[tuple[str, str], int] = {}

    async def claim_and_count(self, tenant: str, events: Sequence[tuple[str, str]]) -> list[int]:
        numbers = []
        for event_id, conversation in events:
            if (tenant, event_id) in self.ids:
                numbers.append(0)
                continue
            self.ids.add((tenant, event_id))
            number = self.conversations[(tenant, conversation)] = self.conversations.get((tenant, conversation), 0) + 1
            numbers.append(number)
        return numbers


async def measure(
    claim: Callable[[str, Sequence[tuple[str, str]]], Awaitable[list[int]]], run: str, args
) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(args.requests):
        events = [(f"{run}_{n}_{k}", f"sess_{(n * args.batch + k) % 200}") for k in range(args.batch)]
        numbers = await claim("bench", events)
        assert all(numbers), "a fresh id was taken for a duplicate"
    return (time.process_time() - cpu) / args.requests * 1e6, (time.perf_counter() - wall) / args.requests * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per round (3000)")
    parser.add_argument("--batch", type=int, default=1, help="events per request (1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is printed (3)")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"baseline": [], "sqlite": []}
    with tempfile.TemporaryDirectory(prefix="botwatch-state-") as tmp:
        store = SqliteStore(Path(tmp) / "state.sqlite", ttl=86400, conversation_ttl=90 * 86400, per_tenant=200_000)
        baseline = DictStore()
        for round_ in range(args.rounds):
            results["baseline"].append(await measure(baseline.claim_and_count, f"b{round_}", args))
            results["sqlite"].append(await measure(store.claim_and_count, f"s{round_}", args))
        await store.close()
    print(f"gateway idempotency: {args.requests} requests of {args.batch} event(s), median of {args.rounds} rounds")
    medians = {}
    for name, samples in results.items():
        cpu, wall = statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)
        medians[name] = (cpu, wall)
        print(f"  {name:9} CPU {cpu:7.1f} µs/request {cpu / args.batch:7.1f} µs/event   wall {wall:7.1f} µs/request")
    (bcpu, bwall), (scpu, swall) = medians["baseline"], medians["sqlite"]
    print(
        f"ratio sqlite / baseline: CPU {scpu / bcpu:.1f}x, wall {swall / bwall:.1f}x; "
        f"extra CPU per event {(scpu - bcpu) / args.batch:.1f} µs"
    )


if __name__ == "__main__":
    asyncio.run(main())
