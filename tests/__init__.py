"""The test suite. Helpers that test modules share live in tests/support, never in another
test module; pytest rewrites their asserts like the tests' own, so a failing helper shows the
values it compared."""

import pytest

pytest.register_assert_rewrite("tests.support")
