"""An episode ledger in Redis: replicas and restarts of a bot continue an episode with one root and one count.

python-telegram-bot keeps no storage botwatch could share, so by default its
ledger is the process's memory: a restarted bot, or a second replica behind
a webhook, would emit the episode's root again and number its turns from 1.
``RedisEpisodes`` keeps the record in Redis instead, one small hash per bot
and chat (``botwatch:episode:<bot id>:<chat id>``, expiring after two
windows), updated by one Lua script so two replicas cannot both start the
episode or take the same turn number::

    from botwatch.integrations.redis_episodes import RedisEpisodes
    instrument(application, episodes=RedisEpisodes("redis://localhost:6379/0"))

It needs the ``redis`` extra (``pip install 'botwatch[redis]'``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botwatch.integrations import Entry

__all__ = ["RedisEpisodes"]

# KEYS[1] the chat's record; ARGV: episode id, "1" for a turn, ttl seconds.  Returns {starts, turns}.
_ENTER = """
local known = redis.call('HGET', KEYS[1], 'episode')
local starts = 0
local turns = 0
if known ~= ARGV[1] then
  starts = 1
else
  turns = tonumber(redis.call('HGET', KEYS[1], 'turns') or '0')
end
if ARGV[2] == '1' then
  turns = turns + 1
end
if starts == 1 or ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'episode', ARGV[1], 'turns', turns)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return {starts, turns}
"""


class RedisEpisodes:
    """Episodes recorded in Redis, shared by every process that uses the same server and prefix."""

    def __init__(
        self, redis: str | Any, *, prefix: str = "botwatch:episode:", keep: timedelta = timedelta(days=2)
    ) -> None:
        """``redis``: a URL or a ``redis.asyncio.Redis`` client; ``keep``: how long an idle chat's record lives."""
        if isinstance(redis, str):
            try:
                from redis.asyncio import Redis
            except ImportError as error:  # pragma: no cover - depends on the installed extras
                raise ImportError("RedisEpisodes needs the redis package: pip install 'botwatch[redis]'") from error
            redis = Redis.from_url(redis)
        seconds = int(keep.total_seconds())
        if seconds < 60:
            raise ValueError("keep must be at least one minute (and should outlast the episode window)")
        self._redis = redis
        self._prefix = prefix
        self._keep = seconds
        self._script = redis.register_script(_ENTER)

    async def enter(self, chat_id: int | str, episode: str, *, turn: bool) -> Entry:
        starts, turns = await self._script(
            keys=[f"{self._prefix}{chat_id}"], args=[episode, "1" if turn else "0", self._keep]
        )
        return Entry(bool(int(starts)), int(turns) if turn else 0)

    async def close(self) -> None:
        await self._redis.aclose()
