"""Optional OpenID Connect login and the two roles: viewers see and export, analysts also change.

Login is Streamlit's own (`st.login`, `st.user`, `st.logout`), configured by an `[auth]`
section in `.streamlit/secrets.toml`. Without it the app runs open, as on a laptop: everyone
is an analyst (or `$CMOT_OPEN_ROLE`), and the sidebar says so.

Roles come from the `[cmot.roles]` section of the same secrets:

    [cmot.roles]
    analysts = ["ana@example.com", "@research.example.com"]  # emails, or "@domain"
    viewers = ["@example.com"]          # optional allow-list; absent: any logged-in user
    claim = "groups"                    # optional: a claim of the ID token ...
    analyst_values = ["cmot-analysts"]  # ... whose value (or one of its values) makes analysts

Comments (issue 13): analysts always read the quotes; viewers see how many commented and the
distinctive terms, but quotes (people's own words) only with `viewers_see_comments = true` in
the `[cmot]` section (or `$CMOT_VIEWERS_SEE_COMMENTS=true`).

Every analyst action checks `require_analyst(...)` in the branch that performs it, on the
server: hiding a button is a courtesy, the check is the protection (a crafted websocket
message can press a button that a viewer never saw).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import streamlit as st

from cmot.text import escape_markdown
from cmot.ui.hosting import allow_uploads

Role = Literal["viewer", "analyst"]
ENV_OPEN_ROLE = "CMOT_OPEN_ROLE"
ENV_VIEWERS_SEE_COMMENTS = "CMOT_VIEWERS_SEE_COMMENTS"
_T = TypeVar("_T")


# Set by app.py around one script run (`one_read_per_run`): the secrets sections read in
# it. Without a secrets file (an open install) every read of st.secrets looks for the files
# again (paths resolved, files tried): about 0.1 ms, five or more times a run.
_RUN = threading.local()


@contextmanager
def one_read_per_run() -> Iterator[None]:
    """Inside, each secrets section is read once (app.py: around one script run, in the
    thread that runs it); outside, on every call, as before."""
    _RUN.sections = {}
    try:
        yield
    finally:
        _RUN.sections = None


def _section(*path: str) -> Mapping[str, Any]:
    """A secrets section, or {} when there is no secrets file or no such section."""
    read: dict[tuple[str, ...], Mapping[str, Any]] | None = getattr(_RUN, "sections", None)
    if read is None:
        return _read_section(path)
    if path not in read:
        read[path] = _read_section(path)
    return read[path]


def _read_section(path: tuple[str, ...]) -> Mapping[str, Any]:
    try:
        node: Any = st.secrets
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
            if node is None:
                return {}
    except FileNotFoundError:  # no secrets.toml anywhere: an open laptop install
        return {}
    return node if isinstance(node, Mapping) else {}


def auth_configured() -> bool:
    """True when secrets.toml has an [auth] section with a redirect URI and a cookie secret."""
    auth = _section("auth")
    return bool(auth.get("redirect_uri")) and bool(auth.get("cookie_secret"))


def login_provider() -> str | None:
    """The provider st.login uses: None for the unnamed one ([auth] client_id ...), else the
    named sub-section ([auth.NAME]), or the one [cmot] login_provider names."""
    chosen = _section("cmot").get("login_provider")
    if chosen:
        return str(chosen)
    auth = _section("auth")
    if "client_id" in auth:
        return None
    named = [k for k, v in auth.items() if isinstance(v, Mapping) and "client_id" in v]
    return named[0] if named else None


def _user() -> Mapping[str, Any]:
    try:
        return dict(st.user.to_dict())
    except Exception:  # no script context (a bare import in a test): nobody
        return {}


def logged_in() -> bool:
    return bool(_user().get("is_logged_in", False))


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    return [str(value)]


def _matches(email: str, entries: list[str]) -> bool:
    email = email.strip().lower()
    if not email:
        return False
    for entry in (e.strip().lower() for e in entries):
        if entry == email or (entry.startswith("@") and email.endswith(entry)):
            return True
    return False


def role_for(user: Mapping[str, Any], roles: Mapping[str, Any]) -> Role | None:
    """The role of a logged-in user under the [cmot.roles] configuration; None: no access.

    Pure, so the rules are tested without Streamlit. The email only counts when the provider
    says it is verified (or says nothing about it).
    """
    email = str(user.get("email") or "")
    if user.get("email_verified") is False:
        email = ""
    if _matches(email, _as_list(roles.get("analysts"))):
        return "analyst"
    claim = roles.get("claim")
    if claim:
        values = set(_as_list(user.get(str(claim))))
        if values & set(_as_list(roles.get("analyst_values"))):
            return "analyst"
    viewers = _as_list(roles.get("viewers"))
    if viewers and not _matches(email, viewers):
        return None
    return "viewer"


def current_role() -> Role:
    """The role of whoever runs this script: open installs give every visitor the open role;
    with login configured, a visitor who is not logged in (or not allowed) is a viewer."""
    if not auth_configured():
        open_role = os.environ.get(ENV_OPEN_ROLE, "analyst").strip().lower()
        return "viewer" if open_role == "viewer" else "analyst"
    if not logged_in():
        return "viewer"
    return role_for(_user(), _section("cmot", "roles")) or "viewer"


def is_analyst() -> bool:
    return current_role() == "analyst"


def viewers_see_comments() -> bool:
    """The `[cmot] viewers_see_comments` setting (else `$CMOT_VIEWERS_SEE_COMMENTS`): False by
    default, as quotes are people's own words and may identify them even when masked."""
    value = _section("cmot").get("viewers_see_comments")
    if value is None:
        value = os.environ.get(ENV_VIEWERS_SEE_COMMENTS, "")
    return str(value).strip().lower() in ("true", "1", "yes")


def may_see_quotes() -> bool:
    """Whether whoever runs this script may read comments: analysts, or viewers if allowed."""
    return is_analyst() or viewers_see_comments()


QUOTES_HIDDEN = (
    "Quotes are hidden for viewers: they are respondents' own words. Ask whoever runs this "
    "dashboard to set viewers_see_comments = true in the [cmot] settings, or for the analyst role."
)


def require_analyst(action: str) -> bool:
    """Call in the branch that performs an analyst action, before doing anything.

    True for analysts. For anyone else it shows why not and returns False, so the caller
    skips the action: `if st.button(...) and require_analyst("delete datasets"): ...`.
    """
    if is_analyst():
        return True
    st.error(f"Only analysts can {action}. Ask whoever runs this dashboard for the analyst role.")
    return False


def for_analysts(items: Sequence[_T]) -> list[_T]:
    """`items` for analysts, [] for viewers: for pages or widgets only analysts may reach."""
    return list(items) if is_analyst() else []


def passes_gate() -> bool:
    """Whether whoever runs this script is past the login gate: always on an open install;
    with login configured, a logged-in user on the viewer list (or an analyst)."""
    if not auth_configured():
        return True
    return logged_in() and role_for(_user(), _section("cmot", "roles")) is not None


def gate() -> None:
    """Call once from app.py before st.navigation.

    Open install: a sidebar note. Login configured: a login screen until the visitor logs
    in (the script stops there), a refusal for accounts outside the viewer allow-list, and
    the account, its role and a logout button in the sidebar. Every run also tells the
    upload guard (cmot.ui.hosting) whether this session may upload: analysts only.
    """
    if not auth_configured():
        allow_uploads(is_analyst())
        note = "Open access: no login is configured"
        if is_analyst():
            note += ", so everyone who can reach this address can upload and delete data"
        st.sidebar.caption(note + ". See README, Hosting, to require a login.")
        return
    if not logged_in():
        allow_uploads(False)
        st.title("cmot: moments of truth")
        st.write("This dashboard needs a login.")
        st.button(
            "Log in",
            key="auth_login",
            type="primary",
            on_click=st.login,
            args=(login_provider(),),
        )
        st.stop()
    user = _user()
    who = str(user.get("email") or user.get("name") or "you")
    role = role_for(user, _section("cmot", "roles"))
    allow_uploads(role == "analyst")
    if role is None:
        st.title("No access")
        st.write(
            f"{escape_markdown(who)} is not on this dashboard's list of viewers. "
            "Ask whoever runs it."
        )
        st.button("Log out", key="auth_logout", on_click=st.logout)
        st.stop()
    st.sidebar.caption(f"Signed in as **{escape_markdown(who)}** ({role})")
    st.sidebar.button("Log out", key="auth_logout", on_click=st.logout)
