"""Login end to end: a local OpenID provider (oidc-provider-mock), a server whose secrets point
at it, Debian's chromium logging in as a viewer and as an analyst, and logging out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server, _free_port, shot, start_server

pytestmark = [
    pytest.mark.e2e,
    # the provider runs in this process; its Authlib calls are deprecated upstream
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

COOKIE_SECRET = "cmot-e2e-cookie-secret-7f3a9c1e5b2d4f6a8c0e"
CLIENT_SECRET = "cmot-e2e-client-secret-0b1c2d3e4f5a6b7c"
# The survey's uploader (key "upload"), not the batch's below it.
UPLOADER = '.st-key-upload [data-testid="stFileUploader"]'


@pytest.fixture(scope="module")
def oidc() -> Iterator[str]:
    mock = pytest.importorskip("oidc_provider_mock")
    users = [
        mock.User(sub="ana", claims={"email": "ana@example.com", "email_verified": True}),
        mock.User(sub="vic", claims={"email": "vic@example.com", "email_verified": True}),
        mock.User(sub="eve", claims={"email": "eve@elsewhere.test", "email_verified": True}),
    ]
    with mock.run_server_in_thread(port=0, user_claims=users) as provider:
        yield f"http://127.0.0.1:{provider.server_port}"


@pytest.fixture(scope="module")
def login_server(tmp_path_factory: pytest.TempPathFactory, oidc: str) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("login")
    port = _free_port()
    secrets = d / "secrets.toml"
    secrets.write_text(
        f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"
client_id = "cmot-e2e"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "{oidc}/.well-known/openid-configuration"

[cmot.roles]
analysts = ["ana@example.com"]
viewers = ["@example.com"]
"""
    )
    srv = start_server(d / "store", d / "server.log", f"--secrets.files={secrets}", port=port)
    yield srv
    srv.process.terminate()
    srv.process.wait(timeout=20)


def _log_in(page: Any, server: Server, who: str) -> None:
    pg = page
    pg.goto(server.url + "/")
    pg.get_by_role("button", name="Log in").click()
    pg.get_by_role("button", name=who, exact=True).click()  # provider
    pg.wait_for_url(server.url + "/**")


def _log_out(page: Any) -> None:
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="End session").click()  # provider
    page.get_by_role("button", name="Log in").wait_for()


def _no_exception(page: Any) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_visitor_sees_only_the_login_screen(page: Any, login_server: Server) -> None:
    page.goto(login_server.url + "/data")  # a deep link, first visit
    page.get_by_role("button", name="Log in").wait_for()
    assert page.get_by_text("Stored datasets").count() == 0
    assert page.locator(UPLOADER).count() == 0
    shot(page, "login-screen")


def test_a_viewer_browses_without_analyst_actions(page: Any, login_server: Server) -> None:
    _log_in(page, login_server, "vic")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("vic@example.com").wait_for()
    assert "(viewer)" in sidebar.inner_text()
    page.get_by_role("heading", name="Moments of truth").first.wait_for()
    page.goto(login_server.url + "/data")
    page.get_by_text("Stored datasets").wait_for()
    assert page.locator(UPLOADER).count() == 0
    _no_exception(page)
    shot(page, "login-viewer-data")
    _log_out(page)
    page.goto(login_server.url + "/data")
    page.get_by_role("button", name="Log in").wait_for()


def test_an_analyst_gets_the_upload(page: Any, login_server: Server) -> None:
    _log_in(page, login_server, "ana")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("ana@example.com").wait_for()
    assert "(analyst)" in sidebar.inner_text()
    page.goto(login_server.url + "/data")
    page.locator(UPLOADER).wait_for()
    _no_exception(page)
    shot(page, "login-analyst-data")
    _log_out(page)


def test_an_account_outside_the_viewer_list_is_refused(page: Any, login_server: Server) -> None:
    _log_in(page, login_server, "eve")
    page.get_by_text("is not on this dashboard's list of viewers").wait_for()
    assert page.get_by_text("Stored datasets").count() == 0
    _log_out(page)


def test_no_secret_reaches_the_log_or_the_page(page: Any, login_server: Server) -> None:
    _log_in(page, login_server, "ana")
    page.get_by_test_id("stSidebar").get_by_text("ana@example.com").wait_for()
    html = page.content()
    log_path = Path(str(login_server.db)).parent / "server.log"
    log = log_path.read_text(errors="replace")
    for secret in (COOKIE_SECRET, CLIENT_SECRET):
        assert secret not in html
        assert secret not in log


def test_an_open_install_says_so(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    page.get_by_text("Open access: no login is configured").wait_for()
    assert page.get_by_role("button", name="Log in").count() == 0
