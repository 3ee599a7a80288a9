"""App passwords: made, listed, deleted; only a hash kept; revoked with the account's sessions.
Signing in with them over CardDAV is in test_dav_auth.py."""

import hashlib
import re
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.helpers import PASSWORD, new_user
from tests.smtp import SmtpServer
from tests.test_accounts import NEW_PASSWORD, reset, reset_token

Headers = dict[str, str]
APP_PASSWORDS = "/api/users/me/app-passwords"
# Seven groups of four lower-case letters and digits.
APP_PASSWORD = re.compile(r"[a-z0-9]{4}(-[a-z0-9]{4}){6}")


def new_app_password(client: TestClient, headers: Headers, name: str = "Ann's iPhone") -> Any:
    response = client.post(APP_PASSWORDS, headers=headers, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


def names(client: TestClient, headers: Headers) -> list[str]:
    response = client.get(APP_PASSWORDS, headers=headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()]


def test_a_new_app_password_is_shown_once(client: TestClient, ann: Headers) -> None:
    response = client.post(APP_PASSWORDS, headers=ann, json={"name": "  Ann's iPhone "})
    assert response.status_code == 201
    made = response.json()
    assert set(made) == {"id", "name", "created_at", "last_used_at", "password"}
    assert made["name"] == "Ann's iPhone"
    assert made["last_used_at"] is None
    assert APP_PASSWORD.fullmatch(made["password"]), made["password"]
    assert response.headers["location"] == f"{APP_PASSWORDS}/{made['id']}"
    [listed] = client.get(APP_PASSWORDS, headers=ann).json()
    assert listed == {key: made[key] for key in ("id", "name", "created_at", "last_used_at")}
    datetime.fromisoformat(listed["created_at"])


def test_every_app_password_is_new(client: TestClient, ann: Headers) -> None:
    passwords = {new_app_password(client, ann, f"device {n}")["password"] for n in range(20)}
    assert len(passwords) == 20


def test_the_list_is_newest_first_and_only_yours(client: TestClient, ann: Headers) -> None:
    for name in ("phone", "laptop", "tablet"):
        new_app_password(client, ann, name)
    bob = new_user(client, "bob@example.com")
    new_app_password(client, bob, "bob's phone")
    assert names(client, ann) == ["tablet", "laptop", "phone"]
    assert names(client, bob) == ["bob's phone"]


def test_a_name_has_1_to_50_characters(client: TestClient, ann: Headers) -> None:
    for bad in ["", "   ", "x" * 51, "tab\there", None]:
        response = client.post(APP_PASSWORDS, headers=ann, json={"name": bad})
        assert response.status_code == 422, bad
    assert client.post(APP_PASSWORDS, headers=ann, json={}).status_code == 422
    new_app_password(client, ann, "x" * 50)
    assert names(client, ann) == ["x" * 50]


def test_fifty_app_passwords_at_most(client: TestClient, ann: Headers) -> None:
    made = [new_app_password(client, ann, f"device {n}") for n in range(50)]
    response = client.post(APP_PASSWORDS, headers=ann, json={"name": "one more"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "You have 50 app passwords, the most there may be: delete one first"
    }
    assert client.delete(f"{APP_PASSWORDS}/{made[0]['id']}", headers=ann).status_code == 204
    new_app_password(client, ann, "one more")


def test_deleting_one_keeps_the_others(client: TestClient, ann: Headers) -> None:
    phone = new_app_password(client, ann, "phone")
    new_app_password(client, ann, "laptop")
    assert client.delete(f"{APP_PASSWORDS}/{phone['id']}", headers=ann).status_code == 204
    assert names(client, ann) == ["laptop"]
    response = client.delete(f"{APP_PASSWORDS}/{phone['id']}", headers=ann)
    assert response.status_code == 404
    assert response.json() == {"detail": "App password not found"}


def test_another_users_app_password_does_not_exist(client: TestClient, ann: Headers) -> None:
    phone = new_app_password(client, ann, "phone")
    bob = new_user(client, "bob@example.com")
    assert client.delete(f"{APP_PASSWORDS}/{phone['id']}", headers=bob).status_code == 404
    assert client.delete(f"{APP_PASSWORDS}/99999999999", headers=bob).status_code == 404
    assert names(client, ann) == ["phone"]


def test_the_routes_need_an_open_session(client: TestClient, ann: Headers) -> None:
    assert client.get(APP_PASSWORDS).status_code == 401
    assert client.post(APP_PASSWORDS, json={"name": "phone"}).status_code == 401
    assert client.delete(f"{APP_PASSWORDS}/1").status_code == 401
    client.post("/api/auth/logout-all", headers=ann)
    response = client.post(APP_PASSWORDS, headers=ann, json={"name": "phone"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_only_a_hash_of_the_password_is_stored(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    password = new_app_password(client, ann)["password"]
    with sync_engine.connect() as connection:
        [row] = connection.execute(text("SELECT * FROM app_passwords")).mappings().all()
    typed = password.replace("-", "")
    assert row["password_hash"] == hashlib.sha256(typed.encode()).hexdigest()
    assert typed not in str(dict(row)) and password not in str(dict(row))


def test_the_password_is_read_as_a_person_types_it() -> None:
    from contacts_api.security import app_password_hash

    stored = app_password_hash("abcd-efgh-0123-4567-89ij-klmn-opqr")
    for typed in [
        "abcdefgh0123456789ijklmnopqr",
        "ABCD EFGH 0123 4567 89IJ KLMN OPQR",
        " abcd-efgh - 0123-4567-89ij-klmn-opqr\t",
    ]:
        assert app_password_hash(typed) == stored, typed
    assert app_password_hash("abcd-efgh-0123-4567-89ij-klmn-opqs") != stored


# --- Revocation ------------------------------------------------------------------------------


def test_logging_out_everywhere_revokes_every_app_password(
    client: TestClient, ann: Headers
) -> None:
    new_app_password(client, ann, "phone")
    new_app_password(client, ann, "laptop")
    assert client.post("/api/auth/logout-all", headers=ann).status_code == 204
    assert names(client, new_user_session(client)) == []


def test_a_password_change_revokes_every_app_password(client: TestClient, ann: Headers) -> None:
    new_app_password(client, ann, "phone")
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.put("/api/users/me/password", headers=ann, json=change).status_code == 204
    assert names(client, new_user_session(client, NEW_PASSWORD)) == []


def test_a_password_reset_revokes_every_app_password(
    client: TestClient, ann: Headers, mailbox: SmtpServer
) -> None:
    new_app_password(client, ann, "phone")
    assert reset(client, reset_token(client, mailbox, "ann@example.com")).status_code == 204
    assert names(client, new_user_session(client, NEW_PASSWORD)) == []


def test_deleting_the_account_deletes_its_app_passwords(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    new_app_password(client, ann, "phone")
    body = {"current_password": PASSWORD}
    assert client.request("DELETE", "/api/users/me", headers=ann, json=body).status_code == 204
    with sync_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM app_passwords")).scalar() == 0


def new_user_session(client: TestClient, password: str = PASSWORD) -> Headers:
    from tests.helpers import bearer, log_in

    return bearer(log_in(client, "ann@example.com", password))
