"""A simulated LLM: two models with their own latency, tokenizer and price profiles.

Latency = time to first token (lognormal) + output tokens x time per token,
which puts a typical reply at 0.8-1.5 s.  Token counts follow the text:
Russian costs gpt-4o-mini about 3.2 characters per token and YandexGPT Lite
about 4.2.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .plan import NS_PER_S


@dataclass(frozen=True, slots=True)
class ModelProfile:
    name: str
    provider: str
    response_model: str
    ttft_median_s: float
    ttft_sigma: float
    seconds_per_token: float
    chars_per_token: float
    usd_per_input_token: float
    usd_per_output_token: float
    rate_limit_error: str  # error.type of a throttled attempt
    server_address: str  # the API host (server.address of the chat span)

    def tokens(self, text: str) -> int:
        return max(1, math.ceil(len(text) / self.chars_per_token))

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return round(input_tokens * self.usd_per_input_token + output_tokens * self.usd_per_output_token, 8)


GPT_4O_MINI = ModelProfile(
    name="gpt-4o-mini",
    provider="openai",
    response_model="gpt-4o-mini-2024-07-18",
    ttft_median_s=0.45,
    ttft_sigma=0.4,
    seconds_per_token=0.011,
    chars_per_token=3.2,
    usd_per_input_token=0.15e-6,
    usd_per_output_token=0.60e-6,
    rate_limit_error="openai.RateLimitError",
    server_address="api.openai.com",
)
YANDEXGPT_LITE = ModelProfile(
    name="yandexgpt-lite",
    provider="yandex",
    response_model="yandexgpt-lite/latest",
    ttft_median_s=0.55,
    ttft_sigma=0.35,
    seconds_per_token=0.008,
    chars_per_token=4.2,
    usd_per_input_token=2.2e-6,
    usd_per_output_token=2.2e-6,
    rate_limit_error="ResourceExhausted",
    server_address="llm.api.cloud.yandex.net",
)
MODELS = (GPT_4O_MINI, YANDEXGPT_LITE)

THROTTLE_RATE = 0.015  # share of turns whose first LLM attempt is rate-limited and retried
SLOW_MIN_S = 3.5  # the slow_llm fault's latency range
SLOW_MAX_S = 8.0


def model_by_name(name: str) -> ModelProfile:
    for model in MODELS:
        if model.name == name:
            return model
    raise KeyError(name)


def latency_ns(rng: random.Random, model: ModelProfile, output_tokens: int, budget_ns: int) -> int:
    """A healthy latency no longer than ``budget_ns`` (the tail is redrawn, not clipped)."""
    stream_s = output_tokens * model.seconds_per_token
    for _ in range(20):
        ttft = rng.lognormvariate(math.log(model.ttft_median_s), model.ttft_sigma)
        latency = int((ttft + stream_s) * NS_PER_S)
        if latency <= budget_ns:
            return latency
    return int(budget_ns * rng.uniform(0.85, 1.0))


def throttled_latency_ns(rng: random.Random) -> int:
    return int(rng.uniform(0.15, 0.5) * NS_PER_S)


def slow_latency_ns(u: float) -> int:
    return int((SLOW_MIN_S + u * (SLOW_MAX_S - SLOW_MIN_S)) * NS_PER_S)
