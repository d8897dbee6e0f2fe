"""Alerts delivered to a webhook: new alerts as one JSON POST (Slack- and Teams-style
incoming webhooks read its `text`). Named on the command line (`alerts --webhook URL`) or
by $CMOT_ALERT_WEBHOOK, never from the dashboard: a server posts only where its operator
said."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

import pandas as pd

from cmot.errors import CmotError

ENV_WEBHOOK = "CMOT_ALERT_WEBHOOK"
TIMEOUT_S = 10.0


def webhook_url(given: str | None) -> str | None:
    """The URL given, else $CMOT_ALERT_WEBHOOK, else None; only http(s)."""
    url = given or os.environ.get(ENV_WEBHOOK) or None
    if url is not None and not url.startswith(("http://", "https://")):
        raise CmotError(f"The webhook {url!r} is not an http(s) URL; give one such as https://...")
    return url


def payload(dataset: str, alerts: pd.DataFrame) -> dict[str, Any]:
    """What is posted: a text of one line per alert, and the alerts as records."""
    lines = [f"cmot: {len(alerts)} new alert(s) for {dataset}"]
    lines += [f"- {s}" for s in alerts["sentence"]]
    keep = ["id", "kind", "segment", "touchpoint", "period", "value", "baseline", "q", "sentence"]
    records = json.loads(alerts[keep].to_json(orient="records"))
    return {"text": "\n".join(lines), "dataset": dataset, "alerts": records}


def post(url: str, body: dict[str, Any]) -> None:
    """POST `body` as JSON; a CmotError saying what went wrong if the receiver refuses."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            if resp.status >= 300:
                raise CmotError(f"The webhook answered {resp.status}; the alerts were kept.")
    except urllib.error.HTTPError as e:
        raise CmotError(
            f"The webhook answered {e.code} ({e.reason}); the alerts were kept."
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise CmotError(
            f"The webhook could not be reached ({reason}); the alerts were kept."
        ) from None
