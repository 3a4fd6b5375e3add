"""What the gateway remembers: event ids seen, how many events each conversation had, rate budgets.

``claim_events`` answers, per event id, whether this is its first delivery
(webhook retries redeliver).  ``count_events`` numbers the events of a
conversation across every replica: the one numbered 1 starts the conversation
and is the only one that emits the trace's root span.  ``take_tokens`` spends
a tenant's rate budget, so a token's limit holds however many replicas
share the work.

Without Redis, in a SQLite file (``botwatch.gateway.sqlite_store``, per
tenant, surviving restarts); in Redis (``SET NX EX``, ``INCR``, a token
bucket in a Lua script on the server's clock) when several replicas run.
Keys are hashed: an event id may carry personal data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol


class StoreUnavailable(Exception):
    pass


def _key(kind: str, value: str) -> str:
    return f"botwatch:gw:{kind}:" + hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _event_key(tenant: str, event_id: str) -> str:
    return _key("evt", f"{tenant}\x00{event_id}")


class Store(Protocol):
    async def claim_events(self, tenant: str, event_ids: Sequence[str]) -> list[bool]: ...
    async def release_events(self, tenant: str, event_ids: Sequence[str]) -> None: ...
    async def count_events(self, tenant: str, conversations: Sequence[str]) -> list[int]: ...
    async def claim_and_count(self, tenant: str, events: Sequence[tuple[str, str]]) -> list[int]:
        """Per (event id, conversation): 0 for an id seen before, else the event's number in its conversation."""
        ...

    async def take_tokens(self, tenant: str, cost: int, rate: float, burst: int) -> float: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


# A token bucket per tenant: refilled at ``rate`` a second up to ``burst``, on the Redis server's
# clock (replicas' clocks may differ); answers the seconds to wait, as a string (Lua numbers
# would come back as integers), "-1" for a cost that can never pass.
_TAKE_TOKENS = """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if cost > burst then return "-1" end
local t = redis.call("TIME")
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call("HMGET", KEYS[1], "tokens", "at")
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call("HSET", KEYS[1], "tokens", tostring(tokens), "at", tostring(now))
redis.call("EXPIRE", KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisStore:
    def __init__(self, url: str, *, ttl: float, conversation_ttl: float) -> None:
        import redis.asyncio as redis

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._ttl, self._conversation_ttl = int(ttl), int(conversation_ttl)
        self._take_tokens = self._redis.register_script(_TAKE_TOKENS)

    async def _run(self, fill: Callable[[object], None]) -> list[object]:
        pipe = self._redis.pipeline(transaction=False)
        fill(pipe)
        try:
            return list(await pipe.execute())
        except self._errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    async def claim_events(self, tenant: str, event_ids: Sequence[str]) -> list[bool]:
        def fill(pipe: object) -> None:
            for event_id in event_ids:
                pipe.set(_event_key(tenant, event_id), 1, nx=True, ex=self._ttl)  # type: ignore[attr-defined]

        return [bool(r) for r in await self._run(fill)]

    async def release_events(self, tenant: str, event_ids: Sequence[str]) -> None:
        if event_ids:
            keys = [_event_key(tenant, e) for e in event_ids]
            await self._run(lambda pipe: pipe.delete(*keys))  # type: ignore[attr-defined]

    async def count_events(self, tenant: str, conversations: Sequence[str]) -> list[int]:
        # Conversation ids carry the tenant's prefix already.
        def fill(pipe: object) -> None:
            for conversation in conversations:
                key = _key("conv", conversation)
                pipe.incr(key)  # type: ignore[attr-defined]
                pipe.expire(key, self._conversation_ttl)  # type: ignore[attr-defined]

        replies = await self._run(fill)
        return [int(r) for r in replies[0::2]]  # type: ignore[call-overload]

    async def claim_and_count(self, tenant: str, events: Sequence[tuple[str, str]]) -> list[int]:
        fresh = await self.claim_events(tenant, [event_id for event_id, _ in events])
        numbers = iter(await self.count_events(tenant, [c for (_, c), ok in zip(events, fresh, strict=True) if ok]))
        return [next(numbers) if ok else 0 for ok in fresh]

    async def take_tokens(self, tenant: str, cost: int, rate: float, burst: int) -> float:
        try:
            wait = await self._take_tokens(keys=[_key("rate", tenant)], args=[repr(rate), burst, cost])
        except self._errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        return float(wait)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except self._errors:
            return False

    async def close(self) -> None:
        await self._redis.aclose()
