"""What the conformance kit raises: a broken rule, or a rule that does not apply."""

from __future__ import annotations

import unittest


class RuleViolation(AssertionError):
    """A publisher or subscriber broke a Reactive Streams rule.

    It is an ``AssertionError``, so test runners report it as a failed test. ``rule`` is the
    spec's number (``"1.1"``, ``"3.9"``); the message says what was expected and what was
    seen.
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"Reactive Streams rule {rule}: {message}")
        self.rule = rule


class RuleSkipped(unittest.SkipTest):
    """A rule does not apply to this publisher (or it was switched off): nothing was checked.

    It subclasses ``unittest.SkipTest``, so pytest and unittest report the test as skipped.
    ``rule`` is the check's id, ``reason`` why it does not apply.
    """

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"rule {rule}: {reason}")
        self.rule = rule
        self.reason = reason
