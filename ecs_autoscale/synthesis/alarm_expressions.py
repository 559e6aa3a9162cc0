"""The backstop alarms' metric-math expressions, as plain strings: one source for the alarms
(`constructs/backstop_alarms.py`) and for `estimate`, which evaluates these very strings.

Free of cdktf, so the estimate model reads them without loading jsii. The ids name the metric queries
the alarms define (`SQS_METRICS`, plus `age`, `received`, `desired`, `in_service`).

What SQS reports decides how each expression must treat a missing value (SQS Developer Guide,
"Available CloudWatch metrics for Amazon SQS", Reporting behavior column,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html):
ApproximateNumberOfMessagesVisible is reported "if the queue is active",
ApproximateNumberOfMessagesDelayed only "if delayed messages exist",
ApproximateNumberOfMessagesNotVisible only "if in-flight messages exist" and
ApproximateAgeOfOldestMessage only while the queue holds a message. In metric math, "missing values in a
time series are treated as 0" in arithmetic, FILL replaces them, and IF drops a datapoint whose
condition has no value (CloudWatch User Guide, "Using metric math",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
"""

from __future__ import annotations

SQS_METRICS = {
    "visible": "ApproximateNumberOfMessagesVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
}


def not_taken_condition(after_seconds: int) -> str:
    """The oldest video waited `after_seconds` and none is in flight or was received this minute.
    A missing SQS datapoint fills as 0: never 'not taken'."""
    return f"FILL(age, 0) >= {after_seconds} AND FILL(in_flight, 0) == 0 AND FILL(received, 0) == 0"


def uncovered_expression(tasks_per_instance: int, not_taken_after_seconds: int) -> str:
    """Videos without a task. A missing delayed or in-flight datapoint (none exist) counts as 0 in the
    sum; a missing visible one (a late or inactive minute) too, which is why the alarm is 1 out of 3."""
    return (
        f"IF({not_taken_condition(not_taken_after_seconds)}, 0, "
        f"visible + delayed + in_flight - {tasks_per_instance} * FILL(desired, REPEAT))"
    )


def not_taken_expression(after_seconds: int) -> str:
    return f"IF({not_taken_condition(after_seconds)}, 1, 0)"


# Instances up and nothing waiting, delayed or in flight. A missing visible datapoint (an inactive queue
# waking up, a late minute) fills as 1: never idle. Delayed and in-flight datapoints are missing whenever
# there are none (SQS reports them only while such messages exist), so they fill as 0: filled as 1 they
# kept the alarm from ever firing.
IDLE_EXPRESSION = (
    "IF(FILL(desired, REPEAT) > 0 AND FILL(visible, 1) + FILL(delayed, 0) + FILL(in_flight, 0) == 0, 1, 0)"
)
STUCK_EXPRESSION = (
    "IF(FILL(visible, 0) >= 1 AND FILL(in_flight, 0) == 0 AND FILL(received, 0) == 0 AND "
    "FILL(in_service, 0) >= 1, 1, 0)"
)
