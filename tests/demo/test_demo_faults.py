"""The fault-string grammar of ``botwatch demo --faults``."""

from __future__ import annotations

import pytest

from botwatch.demo import FaultRule, Faults, FaultSyntaxError, parse_faults


def test_empty_and_none_mean_no_faults() -> None:
    assert parse_faults("") == Faults()
    assert parse_faults(" none ") == Faults()
    assert not parse_faults("")
    assert str(Faults()) == "none"


def test_rates_and_percentages() -> None:
    faults = parse_faults("slow_llm=0.3, low_confidence=20%,crm_errors=0.5")
    assert faults.slow_llm == (FaultRule(0.3),)
    assert faults.low_confidence == (FaultRule(0.2),)
    assert faults.crm_errors == (FaultRule(0.5),)
    assert faults.rate("slow_llm", 1e9) == 0.3


def test_windows_with_units_and_open_ends() -> None:
    faults = parse_faults("slow_llm=0.3@10s-60s,slow_llm=0.9@2m-,crm_errors=1@-1.5h,low_confidence=0.2@1d-2d")
    assert faults.slow_llm == (FaultRule(0.3, 10, 60), FaultRule(0.9, 120, None))
    assert faults.crm_errors == (FaultRule(1.0, 0, 5400),)
    assert faults.low_confidence == (FaultRule(0.2, 86400, 172800),)
    assert [faults.rate("slow_llm", t) for t in (9.99, 10, 59.9, 60, 119, 120, 1e6)] == [0, 0.3, 0.3, 0, 0, 0.9, 0.9]
    assert faults.rate("crm_errors", 5399) == 1.0
    assert faults.rate("crm_errors", 5400) == 0.0


def test_canonical_string_parses_back() -> None:
    text = "slow_llm=0.3@10s-60s,low_confidence=0.2,crm_errors=0.5@120s-"
    faults = parse_faults(text)
    assert parse_faults(str(faults)) == faults


def test_constant() -> None:
    assert Faults.constant(slow_llm=0.3) == parse_faults("slow_llm=0.3")
    assert Faults.constant() == Faults()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slow_llm", "expected name=rate"),
        ("fast_llm=0.3", "unknown fault 'fast_llm'"),
        ("slow_llm=abc", "not a number"),
        ("slow_llm=1.5", "outside 0..1"),
        ("slow_llm=-0.1", "outside 0..1"),
        ("slow_llm=0.3@10s", "must look like 10s-60s"),
        ("slow_llm=0.3@10x-20s", "optional unit"),
        ("slow_llm=0.3@60s-10s", "ends before it starts"),
        ("slow_llm=0.3@0s-60s,slow_llm=0.5@30s-90s", "overlap"),
        ("slow_llm=0.3,slow_llm=0.5", "overlap"),
    ],
)
def test_bad_strings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FaultSyntaxError, match=message):
        parse_faults(text)
