"""`publisher accounts --json`: one object per account, the table's facts, never a token."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from publisher.commands.accounts import AccountRow, as_json


def test_json_has_one_object_per_account() -> None:
    rows = [
        AccountRow(
            name="main",
            api="instagram",
            valid=True,
            username="me",
            token_expires=datetime(2027, 1, 31, 12, 0, tzinfo=UTC),
            days_left=59,
            quota_used=3,
            quota_total=50,
        ),
        AccountRow(name="shop", api="facebook", valid=False, reason="no token: set it"),
    ]
    assert json.loads(as_json(rows)) == [
        {
            "name": "main",
            "api": "instagram",
            "valid": True,
            "reason": None,
            "username": "me",
            "token_expires": "2027-01-31T12:00:00+00:00",
            "days_left": 59,
            "quota_used": 3,
            "quota_total": 50,
        },
        {
            "name": "shop",
            "api": "facebook",
            "valid": False,
            "reason": "no token: set it",
            "username": None,
            "token_expires": None,
            "days_left": None,
            "quota_used": None,
            "quota_total": None,
        },
    ]
