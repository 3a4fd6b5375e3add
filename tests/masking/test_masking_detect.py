"""The detectors of botwatch.masking: every family of issue 15 found, ordinary text left alone, rates printed."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import string

import pytest
from harness.paths import TESTS
from hypothesis import given, settings
from hypothesis import strategies as st
from pii_forms import GLUE, GROUPINGS, PREFIXES, SCRIPTS, SEPARATORS, emails, leaks, phones, written

from botwatch.label_guard import LabelGuard
from botwatch.masking import cut, find
from botwatch.pii import Redactor
from botwatch.semconv import OTHER
from botwatch.validation import clean_name, clean_text

REDACTOR = Redactor(b"detect-test-secret")

CORPUS = TESTS / "data" / "ru_bot_messages.txt"
CONTEXTS = ("{}", "Мой номер {}, звоните после 18:00", "тел.{}!", "«{}»", "https://wa.me/{}?text=hi", "{}\n")


def corpus() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def phone_hash(canonical: str) -> str:
    return "ph_" + hmac.new(REDACTOR.secret, f"phone:{canonical}".encode(), hashlib.sha256).hexdigest()[:16]


@settings(max_examples=400, deadline=None)
@given(phone=phones(), email=emails(), context=st.sampled_from(CONTEXTS))
def test_every_family_is_masked_and_keeps_its_client_hash(phone, email, context):
    (written_phone, canonical), (written_email, local) = phone, email
    text = context.format(f"{written_phone} или {written_email}")
    masked = REDACTOR.text(text)
    assert leaks(masked.encode(), canonical, local) == [], (text, masked)
    # The same keyed hash as before the detector changed (HMAC of "phone:7XXXXXXXXXX"): ids stay stable.
    assert phone_hash(canonical) in masked, (text, masked)
    assert REDACTOR.text(masked) == masked


def test_issue_examples_are_masked_in_place_with_the_rest_of_the_text_intact():
    for raw, canonical in [
        ("8 912 34 56 789", "79123456789"),
        ("8 9123 456 789", "79123456789"),
        ("+7 912 3456 789", "79123456789"),
        ("8 (3412) 57-31-90", "73412573190"),
        ("+7 (34342) 5-73-19", "73434257319"),
        ("wa_79123456789", "79123456789"),
        ("client79123456789", "79123456789"),
        ("order_89123456789", "79123456789"),
        ("%2B7912%203456789", "79123456789"),
        ("8%20912%20345%2067%2089", "79123456789"),
        ("8&nbsp;912&#8209;345\u200b67\u00ad89", "79123456789"),
        ("８（９１２）３４５−６７−８９", "79123456789"),
        ("٨ ٩١٢ ٣٤٥ ٦٧ ٨٩", "79123456789"),
    ]:
        masked = REDACTOR.text(f"Клиент: {raw}. Перезвонить в 15:00")
        assert masked.startswith("Клиент: ") and masked.endswith(". Перезвонить в 15:00"), masked
        assert f"-{canonical[-4:-2]}-{canonical[-2:]} ({phone_hash(canonical)})" in masked, masked
    for raw in ("IVAN@MAIL.RU", "иван@салон.рф", "zapis@клиника.москва", "x1@пример.рус", "ivan＠mail.ru"):
        masked = REDACTOR.text(f"пишите на {raw}, ответим")
        assert "***@" in masked and "(em_" in masked and masked.endswith(", ответим"), masked
    assert REDACTOR.text("https://site.ru/?email=ivan%40mail.ru&x=1") == (
        f"https://site.ru/?email=i***@m***.ru ({REDACTOR.client_id(email='ivan@mail.ru')})&x=1"
    )


NOT_PHONES = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),  # trace id
    st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),  # span id
    st.builds("Заказ № {}".format, st.integers(1, 999_999)),
    st.builds(lambda n: f"{n:,} ₽".replace(",", " "), st.integers(1, 9_999_999)),
    st.builds("{} руб".format, st.integers(1, 999_999)),
    st.builds(lambda d, m, y: f"{d:02}.{m:02}.{y}", st.integers(1, 31), st.integers(1, 12), st.integers(1990, 2099)),
    st.builds(lambda d, m, y: f"{y}-{m:02}-{d:02}", st.integers(1, 31), st.integers(1, 12), st.integers(1990, 2099)),
    st.builds(lambda h, m: f"{h}:{m:02}", st.integers(0, 23), st.integers(0, 59)),
    st.builds("{} человек".format, st.integers(1, 500)),
)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(NOT_PHONES, min_size=1, max_size=4), glue=st.sampled_from([" ", ", ", " в ", "\n", "; "]))
def test_ids_order_numbers_prices_dates_times_and_counts_survive(items, glue):
    text = glue.join(items)
    assert find(text) == [], text
    assert REDACTOR.text(text) == text


def test_detection_and_false_positive_rates():
    """Every composed phone form (all families crossed) found; ordinary bot messages left alone."""
    tens = ["9123456789", "3412573190", "4959876543", "8005553535"]
    forms = 0
    missed = []
    for ten, prefix, grouping, sep, script in itertools.product(tens, PREFIXES, GROUPINGS, SEPARATORS, SCRIPTS):
        for paren in (False, True):
            if not prefix and ten[0] != "9" and not paren:
                continue
            text = written(ten, prefix, grouping, sep, paren, script)
            forms += 1
            if leaks(REDACTOR.text(f"номер {text} спасибо").encode(), "7" + ten):
                missed.append(text)
    for ten, glue in itertools.product(tens, GLUE):
        forms += 1
        if leaks(REDACTOR.text(f"{glue}8{ten}").encode(), "7" + ten):
            missed.append(f"{glue}8{ten}")
    messages = corpus()
    changed = [m for m in messages if REDACTOR.text(m) != m]
    detection = 1 - len(missed) / forms
    false_positive = len(changed) / len(messages)
    print(f"\nphone forms found: {forms - len(missed)}/{forms} ({detection:.1%})")
    print(f"ordinary messages changed: {len(changed)}/{len(messages)} ({false_positive:.1%})")
    assert len(messages) >= 100
    assert missed == [], missed[:20]
    assert false_positive <= 0.02, changed


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("HTTP Request: POST https://b24.example.ru/rest/1/k9x2m4p7q1w8e5r3/crm.lead.add.json", "k9x2m4p7q1w8e5r3"),
        ("GET https://api.telegram.org/bot7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getUpdates", "AAHdqTcvCH1vGWJ"),
        ("token 7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw leaked", "AAHdqTcvCH1vGWJ"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
        ("Authorization=sk-live-1234abcd", "sk-live-1234abcd"),
        ("/api?token=tok_8f7e6d5c&x=1", "tok_8f7e6d5c"),
        ("/api?key=AIzaSyD-1a2b3c&x=1", "AIzaSyD-1a2b3c"),
        ("/api?api_key=ak_55aa66bb", "ak_55aa66bb"),
        ("/cb?access_token=EAAGm0PX4ZCps", "EAAGm0PX4ZCps"),
        ("client_id=1&secret=shh-its-secret", "shh-its-secret"),
        ("/rest%2F1%2Fk9x2m4p7q1w8e5r3%2Fcrm.lead.add", "k9x2m4p7q1w8e5r3"),
    ],
)
def test_secrets_are_masked_wherever_they_appear(line, secret):
    masked = REDACTOR.text(line)
    assert secret not in masked and "***" in masked, masked
    assert REDACTOR.text(masked) == masked
    assert REDACTOR.contains_pii(line)


def test_a_cut_never_leaves_part_of_a_number_or_address():
    phone, address = "+7 (912) 345-67-89", "ivan.petrov77@mail.ru"
    for item, canonical, local in ((phone, "79123456789", None), (address, "70000000000", "ivan.petrov77")):
        for shift in range(len(item) + 2):
            text = "а" * (4095 - shift) + item + " конец"
            cut_text = clean_text(text, limit=4096, what="message text")
            assert len(cut_text) <= 4096 and cut_text.endswith("…")
            exported = REDACTOR.text(cut_text)  # what the exporters do with it
            assert leaks(exported.encode(), canonical, local) == [], (shift, exported[-60:])
    name = clean_name("x" * 120 + "79123456789", "intent")
    assert len(name) <= 128 and "1234" not in REDACTOR.text(name), name
    assert cut("short", 10) == "short"


@given(phone=phones())
@settings(max_examples=150, deadline=None)
def test_the_label_guard_turns_every_family_into_other(phone):
    guard = LabelGuard(None, limit=1000, is_sensitive=REDACTOR.contains_pii)
    value = phone[0].strip()
    if len(value) <= 64 and value.isprintable():  # longer or unprintable values are "other" anyway
        assert guard(f"booking {value}") == OTHER
        assert guard(value) == OTHER
    assert guard("booking") == "booking"


def test_nothing_but_ascii_letters_digits_and_punctuation_is_needed_for_the_fast_path():
    """Text without ten digits, '@', escapes or secret hints is not even folded: the common case costs one regex."""
    plain = "Здравствуйте! Хочу записаться на стрижку в субботу " + string.ascii_letters
    assert find(plain) == [] and REDACTOR.text(plain) is plain


def test_masked_spans_are_exactly_the_number_at_either_end_of_the_text():
    assert REDACTOR.text("9123456789 (").endswith("-67-89 (" + phone_hash("79123456789") + ") (")
    assert REDACTOR.text("(9123456789").startswith("+7 *** ***-67-89")
    assert REDACTOR.text("x (495) 123-45-67").startswith("x +7 *** ***-45-67")
