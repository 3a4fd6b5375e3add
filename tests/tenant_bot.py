"""A small live bot of one tenant, for the multi-tenant end-to-end test: ``python tenant_bot.py``.

It runs ``botwatch.init(tenant=$BOT_TENANT)`` and sends ``$BOT_RATE``
one-turn conversations per second through the SDK (OTLP to
``OTEL_EXPORTER_OTLP_ENDPOINT``) for ``$BOT_SECONDS`` seconds.  Between
``$BOT_FAULT_START`` and ``$BOT_FAULT_END`` seconds after its start:

* every turn takes ``$BOT_SLOW_TURN_S`` seconds (else 1 s), by the
  conversation's clock, so the test does not wait for slow turns;
* with ``BOT_LEAD_ERRORS=1`` every Bitrix24 lead creation fails (``timeout``).

It prints ``started <monotonic>`` once the SDK is up, so the test can place
the fault window on its own clock.
"""

from __future__ import annotations

import os
import time

import botwatch

NS = 1_000_000_000


class Clock:
    """A conversation's clock: real time at its start, moved forward by hand to make a turn slow."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now


def main() -> None:
    tenant = os.environ["BOT_TENANT"]
    rate = float(os.environ.get("BOT_RATE", "5"))
    seconds = float(os.environ.get("BOT_SECONDS", "120"))
    fault = (float(os.environ["BOT_FAULT_START"]), float(os.environ["BOT_FAULT_END"]))
    slow_s = float(os.environ.get("BOT_SLOW_TURN_S", "1"))
    lead_errors = os.environ.get("BOT_LEAD_ERRORS") == "1"
    botwatch.init(service_name=os.environ.get("BOT_SERVICE", "salon-bot"), tenant=tenant)
    start = time.monotonic()
    print(f"started {start}", flush=True)
    n = 0
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            faulty = fault[0] <= elapsed < fault[1]
            clock = Clock()
            with botwatch.conversation(
                f"{tenant}-c{n}", channel="whatsapp", client_phone=f"+7912555{n % 10000:04d}", clock=clock
            ) as conv:
                with conv.turn("Хочу записаться на стрижку завтра") as turn:
                    turn.intent("booking", confidence=0.9)
                    with turn.crm("lead.create", system="bitrix24") as action:
                        if faulty and lead_errors:
                            action.fail("timeout")
                        else:
                            action.entity_id = str(1000 + n)
                    clock.now += int((slow_s if faulty else 1.0) * NS)
                    turn.reply("Записал вас на завтра, 15:00")
                conv.funnel("booking_created")
            n += 1
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
    finally:
        botwatch.shutdown()


if __name__ == "__main__":
    main()
