import logging
import random
import re
import time

import pytest

from app.errors import InvalidInput
from app.patterns import MAX_PATTERN_LENGTH, Matcher, matches, validate

SLOW_PATTERN = "(a|aa)+"  # regex cannot shortcut this one, unlike "(a+)+"
SLOW_NAME = "a" * 40 + "!"

MODEL_NAMES = [
    "home_rentals",
    "home_rentals_v2",
    "Home_Rentals",
    "mindsdb",
    "a.b",
    "aXb",
    "",
    "line\nbreak",
    "trailing\n",
    "carriage\r",
    "модель-β",
    "日本語 ✓",
    SLOW_NAME,
]
PATTERNS = [
    # match-all spellings
    ".*",
    ".*?",
    "(.*)",
    "(?:.*?)",
    "(?s).*",
    "(?s:.*)",
    # plain literals
    "home_rentals",
    "mindsdb",
    "модель",
    "",
    "日本語",
    # regular expressions
    "home_.*",
    "home_rentals.*",
    "(?i)home_rentals",
    "a.b",
    r"a\.b",
    "[a-z_]+",
    r"\w+",
    ".+",
    "mind(sdb|s)",
    "line.break",
    "(?s)line.break",
    r"trailing\n",
    "trailing$",
    "модель-.",
    r"日本語\s✓",
    "a+!",
    ".*\n?",
]  # none slow under re, which the brute-force comparison uses


def brute_force(callbacks, model_name, project_name):
    return [
        callback_id
        for callback_id, model_pattern, project_pattern in callbacks
        if re.fullmatch(model_pattern, model_name)
        and re.fullmatch(project_pattern, project_name)
    ]


@pytest.mark.parametrize(
    "pattern",
    [".*", "", "home_rentals", "(?i)home_.*", "x" * MAX_PATTERN_LENGTH, ".{0,256}"],
    ids=["match-all", "empty", "literal", "flags", "longest-allowed", "counted"],
)
def test_validate_accepts_a_usable_pattern(pattern):
    assert validate(pattern, "filter.model_name") is None


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (None, "must be a regular expression as a string; got None"),
        (5, "must be a regular expression as a string; got 5"),
        (b".*", "must be a regular expression as a string; got b'.*'"),
        ("x" * 257, "must be at most 256 characters; got 257 characters"),
        (
            "(",
            "must be a Python regular expression "
            "(missing ), unterminated subpattern at position 0); got '('",
        ),
        (
            "[z-a]",
            "must be a Python regular expression "
            "(bad character range z-a at position 1); got '[z-a]'",
        ),
        (
            "((a{100}){100}){100}",
            "must not repeat more than 1000 items in all, nested counts "
            "multiplied; got '((a{100}){100}){100}'",
        ),
    ],
    ids=[
        "none",
        "integer",
        "bytes",
        "too-long",
        "unclosed-group",
        "reversed-range",
        "unrolls-too-far",
    ],
)
def test_validate_rejects_an_unusable_pattern_naming_the_field(pattern, message):
    with pytest.raises(InvalidInput) as caught:
        validate(pattern, "filter.model_name")

    assert caught.value.fields == {"filter.model_name": [message]}


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        (".*", "home_rentals", True),
        ("home_.*", "home_rentals", True),
        ("home", "home_rentals", False),
        ("rentals", "home_rentals", False),
        ("home_rentals|mindsdb", "mindsdb", True),
        (".*", "line\nbreak", False),
        ("(?s).*", "line\nbreak", True),
        ("модель-.", "модель-β", True),
    ],
    ids=[
        "match-all",
        "prefix-and-wildcard",
        "prefix-alone-is-not-enough",
        "suffix-alone-is-not-enough",
        "alternation",
        "dot-stops-at-line-break",
        "dotall",
        "non-latin",
    ],
)
def test_matches_needs_the_whole_name_to_match(pattern, name, expected):
    assert matches(pattern, name) is expected


def test_matches_answers_a_nested_quantifier_quickly():
    started = time.perf_counter()

    assert matches("(a+)+", SLOW_NAME) is False
    assert time.perf_counter() - started < 0.5


def test_matches_counts_a_pattern_past_its_timeout_as_no_match():
    started = time.perf_counter()

    assert matches(SLOW_PATTERN, SLOW_NAME) is False
    assert time.perf_counter() - started < 0.5


def test_matches_logs_a_pattern_past_its_timeout_at_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="modelhooks.patterns"):
        matches(SLOW_PATTERN, SLOW_NAME)

    assert [(r.name, r.levelno) for r in caplog.records] == [
        ("modelhooks.patterns", logging.WARNING)
    ]
    assert repr(SLOW_PATTERN) in caplog.records[0].getMessage()


def test_matches_counts_an_invalid_pattern_as_no_match_and_logs_it(caplog):
    with caplog.at_level(logging.WARNING, logger="modelhooks.patterns"):
        assert matches("(", "anything") is False

    assert "'('" in caplog.records[0].getMessage()


def test_matcher_gives_the_same_answers_as_re_fullmatch_on_a_generated_mix():
    rng = random.Random(20261204)
    callbacks = [
        (f"cb{index}", rng.choice(PATTERNS), rng.choice(PATTERNS))
        for index in range(600)
    ]
    matcher = Matcher(callbacks)

    for model_name in MODEL_NAMES:
        for project_name in MODEL_NAMES:
            assert matcher.match(model_name, project_name) == brute_force(
                callbacks, model_name, project_name
            ), (model_name, project_name)


def test_matcher_gives_the_same_answers_for_every_pair_of_patterns():
    callbacks = [
        ((model, project), model, project) for model in PATTERNS for project in PATTERNS
    ]
    matcher = Matcher(callbacks)

    for name in MODEL_NAMES:
        assert matcher.match(name, "mindsdb") == brute_force(callbacks, name, "mindsdb")


def test_matcher_keeps_the_order_the_callbacks_were_given_in():
    callbacks = [
        (3, ".*", "mindsdb"),
        (1, "home_rentals", ".*"),
        (2, "home_.*", ".*"),
        (0, ".*", ".*"),
        (4, "home_rentals", "mindsdb"),
    ]

    assert Matcher(callbacks).match("home_rentals", "mindsdb") == [3, 1, 2, 0, 4]


@pytest.mark.parametrize("scattered", [3, 600], ids=["few", "many"])
def test_matcher_keeps_the_order_when_groups_interleave(scattered):
    callbacks = [(index, ".*", ".*") for index in range(1000)]
    for index in range(scattered):
        model = "home_rentals" if index % 2 else "home_r.*"
        callbacks.insert(index * 1000 // scattered, (f"p{index}", model, ".*"))

    assert Matcher(callbacks).match("home_rentals", "mindsdb") == brute_force(
        callbacks, "home_rentals", "mindsdb")


def test_matcher_returns_nothing_without_callbacks():
    assert Matcher([]).match("home_rentals", "mindsdb") == []


@pytest.mark.parametrize(
    "bad_pattern",
    [SLOW_PATTERN, "(a+)+", "(", "((a{100}){100}){100}"],
    ids=["times-out", "nested-quantifier", "invalid", "unrolls-too-far"],
)
def test_a_bad_pattern_does_not_stop_other_callbacks_matching(bad_pattern):
    callbacks = [
        ("before", "a+!", ".*"),
        ("bad", bad_pattern, ".*"),
        ("after", ".*", "mindsdb"),
    ]
    started = time.perf_counter()

    found = Matcher(callbacks).match(SLOW_NAME, "mindsdb")

    assert found == ["before", "after"]
    assert time.perf_counter() - started < 0.5


def test_matcher_runs_a_shared_slow_pattern_once_per_name(caplog):
    callbacks = [(index, SLOW_PATTERN, ".*") for index in range(50)]

    with caplog.at_level(logging.WARNING, logger="modelhooks.patterns"):
        found = Matcher(callbacks).match(SLOW_NAME, "mindsdb")

    assert found == []
    assert len(caplog.records) == 1
