"""Roles: the rules (pure), and gate()/require_analyst() in AppTest with at.secrets and at.user.

A viewer pressing an analyst button is what a crafted websocket message can do whatever the
page shows; AppTest's click() sends exactly that, so these tests press it and expect refusal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from cmot.text import escape_markdown
from cmot.ui.auth import role_for

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-0123456789abcdef",
    "client_id": "cmot",
    "client_secret": "test-client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ROLES = {"analysts": ["ana@example.com", "@research.example.com"]}


def _script() -> None:
    import streamlit as st

    from cmot.ui.auth import current_role, gate, require_analyst

    gate()
    st.write(f"role: {current_role()}")
    if st.button("Delete everything", key="act") and require_analyst("delete datasets"):
        st.success("deleted")


def _app(secrets: dict[str, Any] | None = None, user: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_function(_script, default_timeout=30)
    if secrets is not None:
        at.secrets = secrets
    if user is not None:
        at.user = user
    return at.run()


def _logged_in(email: str, **claims: Any) -> dict[str, Any]:
    return {"is_logged_in": True, "email": email, "email_verified": True, **claims}


def _texts(at: AppTest) -> str:
    return " ".join(str(m.value) for m in at.markdown)


# ---- the rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "roles", "role"),
    [
        ({"email": "ana@example.com"}, ROLES, "analyst"),
        ({"email": "ANA@Example.com "}, ROLES, "analyst"),  # emails compare case-insensitively
        ({"email": "bo@research.example.com"}, ROLES, "analyst"),  # a whole domain
        ({"email": "bo@evil-research.example.com"}, ROLES, "viewer"),  # not a suffix trick
        ({"email": "vic@example.com"}, ROLES, "viewer"),  # everyone else views
        ({"email": "ana@example.com", "email_verified": False}, ROLES, "viewer"),
        (
            {"email": "x@y.z", "groups": ["staff", "cmot-analysts"]},
            {"claim": "groups", "analyst_values": ["cmot-analysts"]},
            "analyst",
        ),
        (
            {"email": "x@y.z", "groups": "staff"},
            {"claim": "groups", "analyst_values": ["cmot-analysts"]},
            "viewer",
        ),
        ({"email": "vic@example.com"}, {"viewers": ["@example.com"]}, "viewer"),
        ({"email": "eve@else.test"}, {"viewers": ["@example.com"]}, None),  # no access
        ({"email": "ana@example.com"}, {**ROLES, "viewers": ["@other.test"]}, "analyst"),
        ({}, {"viewers": ["@example.com"]}, None),
    ],
)
def test_role_rules(user: dict[str, Any], roles: dict[str, Any], role: str | None) -> None:
    assert role_for(user, roles) == role


# ---- gate() and require_analyst() in a running script -----------------------------------


def test_without_login_configured_the_app_is_open_and_says_so(store_dir: Path) -> None:
    at = _app()
    assert "role: analyst" in _texts(at)
    assert any("Open access" in c.value for c in at.sidebar.caption)
    at.button(key="act").click().run()
    assert at.success[0].value == "deleted"


def test_an_open_install_can_be_read_only(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMOT_OPEN_ROLE", "viewer")
    at = _app()
    at.button(key="act").click().run()
    assert not at.success
    assert "Only analysts can delete datasets" in at.error[0].value


def test_login_configured_shows_only_the_login_screen(store_dir: Path) -> None:
    at = _app({"auth": AUTH}, {})
    assert at.button(key="auth_login").label == "Log in"
    assert "role:" not in _texts(at)
    assert not _has(at, "act")


def _has(at: AppTest, key: str) -> bool:
    return any(getattr(b, "key", None) == key for b in at.button)


def test_a_viewer_cannot_perform_an_analyst_action(store_dir: Path) -> None:
    at = _app({"auth": AUTH, "cmot": {"roles": ROLES}}, _logged_in("vic@example.com"))
    assert "role: viewer" in _texts(at)
    who = escape_markdown("vic@example.com")  # an account name is data: shown as typed
    assert any(who in c.value and "(viewer)" in c.value for c in at.sidebar.caption)
    at.button(key="act").click().run()  # the crafted request
    assert not at.success
    assert "Only analysts can delete datasets" in at.error[0].value


def test_an_analyst_can(store_dir: Path) -> None:
    at = _app({"auth": AUTH, "cmot": {"roles": ROLES}}, _logged_in("ana@example.com"))
    assert "role: analyst" in _texts(at)
    at.button(key="act").click().run()
    assert at.success[0].value == "deleted"


def test_an_analyst_by_group_claim(store_dir: Path) -> None:
    roles = {"claim": "groups", "analyst_values": ["cmot-analysts"]}
    at = _app(
        {"auth": AUTH, "cmot": {"roles": roles}}, _logged_in("x@y.z", groups=["cmot-analysts"])
    )
    assert "role: analyst" in _texts(at)


def test_an_account_outside_the_allow_list_is_refused(store_dir: Path) -> None:
    roles = {**ROLES, "viewers": ["@example.com"]}
    at = _app({"auth": AUTH, "cmot": {"roles": roles}}, _logged_in("eve@else.test"))
    assert "role:" not in _texts(at)
    assert "not on this dashboard's list of viewers" in _texts(at)
    assert at.button(key="auth_logout").label == "Log out"


def test_logout_returns_to_the_login_screen(store_dir: Path) -> None:
    at = _app({"auth": AUTH, "cmot": {"roles": ROLES}}, _logged_in("ana@example.com"))
    at.sidebar.button(key="auth_logout").click().run()
    assert at.button(key="auth_login").label == "Log in"
    assert "role:" not in _texts(at)


# ---- uploads (issue 29 B): the gate tells cmot.ui.hosting who may upload -------------------


def _upload_script() -> None:
    import streamlit as st

    from cmot.ui.auth import gate
    from cmot.ui.hosting import UPLOADS, current_session_id

    st.session_state["sid"] = current_session_id()
    gate()
    st.write(f"may upload: {UPLOADS.allowed(str(current_session_id()))}")


def _may_upload(secrets: dict[str, Any] | None, user: dict[str, Any] | None) -> bool:
    from cmot.ui.hosting import UPLOADS

    at = AppTest.from_function(_upload_script, default_timeout=30)
    if secrets is not None:
        at.secrets = secrets
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return UPLOADS.allowed(str(at.session_state["sid"]))


def test_only_a_session_whose_run_found_an_analyst_may_upload(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roles = {"auth": AUTH, "cmot": {"roles": ROLES}}
    assert not _may_upload({"auth": AUTH}, {})  # the login screen
    assert not _may_upload(roles, _logged_in("vic@example.com"))
    assert not _may_upload(
        {"auth": AUTH, "cmot": {"roles": {**ROLES, "viewers": ["@example.com"]}}},
        _logged_in("eve@elsewhere.test"),
    )
    assert _may_upload(roles, _logged_in("ana@example.com"))
    assert _may_upload(None, None)  # an open install: everyone is an analyst
    monkeypatch.setenv("CMOT_OPEN_ROLE", "viewer")
    assert not _may_upload(None, None)
