"""The estimate's metric-math evaluator against CloudWatch's own worked examples, and the alarms' expressions
on what SQS reports.

The tables are CloudWatch User Guide, "Using metric math"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html): its comparison
operator example and its three IF examples, value for value ("-": no value for that timestamp).
"""

from __future__ import annotations

import pytest

from ecs_autoscale.estimate.metric_math import MetricMathError, parse
from ecs_autoscale.estimate.model import Sample
from ecs_autoscale.synthesis.alarm_expressions import (
    IDLE_EXPRESSION,
    STUCK_EXPRESSION,
    not_taken_expression,
    uncovered_expression,
)

_ = None  # "-" in the guide's tables


def series(expression: str, **metrics: list[float | None]) -> list[float | None]:
    length = len(next(iter(metrics.values())))
    parsed = parse(expression)
    return [parsed.at(j, lambda name, minute: metrics[name][minute] if minute >= 0 else None) for j in range(length)]


@pytest.mark.parametrize(
    "expression, output",
    [
        ("metric1 < metric2", [0, 0, 1, 0]),
        ("metric1 >= 30", [1, 0, 0, 0]),
        ("metric1 > 15 AND metric2 > 15", [1, 0, 0, 0]),
    ],
)
def test_comparisons_treat_a_missing_value_as_0_against_another_time_series(expression, output):
    assert series(expression, metric1=[30, 20, 0, 0], metric2=[20, _, 20, _]) == output


@pytest.mark.parametrize(
    "expression, output",
    [
        ("IF(metric1, metric2, metric3)", [30, 0, 20, _, _]),
        ("IF(metric1, 5, metric3)", [5, 5, 20, _, _]),
        ("IF(metric1, metric2, 5)", [30, 0, 5, 5, _]),
    ],
)
def test_if_as_the_user_guide_tabulates_it(expression, output):
    assert series(expression, metric1=[1, 1, 0, 0, _], metric2=[30, _, 0, 0, 30], metric3=[0, 0, 20, _, 20]) == output


def test_arithmetic_treats_missing_as_0_between_series_and_drops_what_has_no_value():
    assert series("a + b", a=[1, _, _], b=[2, 3, _]) == [3, 3, _]
    assert series("2 * a", a=[1, _, 4]) == [2, _, 8]  # a scalar with no datapoint: no datapoint
    assert series("a / b", a=[1, 1], b=[0, 2]) == [_, 0.5]  # division by zero drops the datapoint
    assert series("-a + 1", a=[2, _]) == [-1, _]


def test_fill_with_a_value_and_repeat():
    assert series("FILL(a, 7)", a=[1, _, 3]) == [1, 7, 3]
    assert series("FILL(a, REPEAT)", a=[_, 2, _, _, 5]) == [_, 2, 2, 2, 5]


@pytest.mark.parametrize("text", ["IF(a, 1", "FILL(a)", "a +", "a $ b", "Metric", "IF(a)", "(a"])
def test_what_it_cannot_read_is_an_error(text):
    with pytest.raises(MetricMathError):
        parse(text)


def alarm_value(expression: str, sample: Sample) -> float | None:
    return parse(expression).at(0, lambda name, _minute: sample.reported[name])


def test_sqs_reports_delayed_and_in_flight_only_while_there_are_some():
    """SQS Developer Guide, "Available CloudWatch metrics for Amazon SQS", Reporting behavior."""
    empty = Sample(group_desired=2, in_service=2)
    assert empty.reported == {
        "visible": 0,
        "delayed": None,
        "in_flight": None,
        "age": None,
        "received": 0,
        "desired": 2,
        "in_service": 2,
    }
    busy = Sample(visible=3, in_flight=2, received=1, oldest_age=90, group_desired=2)
    assert busy.reported["in_flight"] == 2 and busy.reported["age"] == 90
    inactive = Sample(visible=3, missing=True)
    assert [inactive.reported[k] for k in ("visible", "delayed", "in_flight", "age", "received")] == [_] * 5


def test_an_empty_queue_reads_idle_only_with_missing_delayed_and_in_flight_filled_as_0():
    old = "IF(FILL(desired, REPEAT) > 0 AND FILL(visible, 1) + FILL(delayed, 1) + FILL(in_flight, 1) == 0, 1, 0)"
    empty = Sample(group_desired=2, in_service=2)
    assert alarm_value(IDLE_EXPRESSION, empty) == 1
    assert alarm_value(old, empty) == 0  # the old alarm, on what SQS reports: never idle
    assert alarm_value(IDLE_EXPRESSION, Sample(in_flight=1, group_desired=2)) == 0
    assert alarm_value(IDLE_EXPRESSION, Sample(group_desired=2, missing=True)) == 0  # inactive: not idle
    assert alarm_value(IDLE_EXPRESSION, Sample(group_desired=0)) == 0  # only while the group is above 0


def test_the_other_alarms_on_reported_datapoints():
    waiting = Sample(visible=5, oldest_age=600, group_desired=1, in_service=1)
    assert alarm_value(uncovered_expression(1, 1800), waiting) == 4
    assert alarm_value(uncovered_expression(4, 1800), waiting) == 1
    assert alarm_value(uncovered_expression(1, 1800), Sample(visible=5, oldest_age=1800, group_desired=1)) == 0
    assert alarm_value(not_taken_expression(1800), Sample(visible=5, oldest_age=1800)) == 1
    assert alarm_value(not_taken_expression(1800), Sample()) == 0  # an empty queue has no age: FILL 0
    assert alarm_value(STUCK_EXPRESSION, waiting) == 1
    assert alarm_value(STUCK_EXPRESSION, Sample(visible=5, received=1, in_service=1)) == 0
