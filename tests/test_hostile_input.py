"""Hostile and odd input gets a clear 4xx, never a 5xx, and text comes back as it was sent."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import contact_data, create_contact

Headers = dict[str, str]

CONTROL_CHARACTERS = {
    "type": "value_error",
    "msg": "Value error, must not contain control characters",
    "ctx": {"error": {}},
}


def post_raw(client: TestClient, path: str, headers: Headers, body: bytes, kind: str) -> Any:
    return client.post(path, headers=headers | {"Content-Type": kind}, content=body)


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"first_name": }',
        b"[" * 100_000,  # nested far deeper than any parser recursion allows
        b'{"first_name": ' + b"9" * 5000 + b"}",  # more digits than Python converts
        b'{"first_name": 1e999}',
        b'{"first_name": NaN}',
        b"\xff\xfe\x00\x00",
        b"",
    ],
)
def test_malformed_json_is_422(client: TestClient, ann: Headers, body: bytes) -> None:
    response = post_raw(client, "/api/contacts", ann, body, "application/json")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert "Infinity" not in response.text


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", "image/png"])
def test_a_contact_sent_as_another_content_type_is_422(
    client: TestClient, ann: Headers, kind: str
) -> None:
    body = json.dumps(contact_data()).encode()
    response = post_raw(client, "/api/contacts", ann, body, kind)
    assert response.status_code == 422
    assert client.get("/api/contacts", headers=ann).json()["total"] == 0


def test_json_sent_to_the_token_endpoint_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/auth/token", json={"username": "ann@example.com", "password": "whatever"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/contacts/" + "1" * 10_000, 404),
        ("/api/contacts?limit=" + "9" * 5000, 422),
        ("/api/contacts?offset=" + "9" * 5000, 422),
        ("/api/contacts/birthdays?days=" + "9" * 5000, 422),
        ("/api/contacts/birthdays?days=1e3", 422),
        ("/api/contacts?q=" + "a" * 10_000, 422),
        ("/api/contacts?q=%00", 422),
        ("/api/contacts?email=%FF%FE", 200),  # undecodable bytes become U+FFFD: no match
    ],
)
def test_huge_numbers_and_long_strings_in_path_and_query_are_4xx(
    client: TestClient, ann: Headers, path: str, status: int
) -> None:
    response = client.get(path, headers=ann)
    assert response.status_code == status


def test_a_very_long_login_name_or_password_is_a_plain_401(client: TestClient) -> None:
    for form in (
        {"username": "a" * 100_000 + "@example.com", "password": "x"},
        {"username": "ann@example.com", "password": "x" * 100_000},
    ):
        response = client.post("/api/auth/token", data=form)
        assert response.status_code == 401
        assert response.json() == {"detail": "Incorrect email or password"}


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"--x\r\n", "multipart/form-data"),  # no boundary parameter
        (b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--\r\n",
         "multipart/form-data; boundary=x"),  # a part without a name
        ("&".join(f"f{n}=v" for n in range(1001)).encode(), "application/x-www-form-urlencoded"),
    ],
)  # fmt: skip
def test_a_form_that_cannot_be_read_is_422(client: TestClient, body: bytes, kind: str) -> None:
    response = post_raw(client, "/api/auth/token", {}, body, kind)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]


UNICODE_TEXT = [
    "Zoë Ångström",
    "李小龙",
    "محمد",  # right to left
    "😀🎉",  # outside the Basic Multilingual Plane
    "e\u0301",  # e + combining acute accent, not normalised
    "\u200bzero width",
]


@pytest.mark.parametrize("text", UNICODE_TEXT)
def test_unicode_in_every_text_field_comes_back_as_sent(
    client: TestClient, ann: Headers, text: str
) -> None:
    contact = create_contact(
        client,
        ann,
        first_name=text,
        last_name=text,
        email="unicode@example.com",
        notes=f"{text}\n{text}",
    )
    assert (contact["first_name"], contact["last_name"]) == (text.strip(), text.strip())
    assert contact["notes"] == f"{text}\n{text}"
    stored = client.get(f"/api/contacts/{contact['id']}", headers=ann).json()
    assert stored == contact
    found = client.get("/api/contacts", headers=ann, params={"q": text.split()[0]}).json()
    assert [item["id"] for item in found["items"]] == [contact["id"]]


def test_an_internationalised_email_is_accepted_and_found(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann, email="zoë@exämple.com")
    assert contact["email"] == "zoë@exämple.com"
    found = client.get("/api/contacts", headers=ann, params={"email": "ZOË"}).json()
    assert found["total"] == 1


def test_full_name_takes_unicode_too(client: TestClient) -> None:
    response = client.post(
        "/api/auth/signup",
        json={"email": "ann@example.com", "password": "pässwörd-ünïcode", "full_name": "李小龙 😀"},
    )
    assert response.status_code == 201
    assert response.json()["full_name"] == "李小龙 😀"
    login = client.post(
        "/api/auth/token", data={"username": "ann@example.com", "password": "pässwörd-ünïcode"}
    )
    assert login.status_code == 200


def test_lone_surrogates_in_tokens_and_passwords_are_refused_not_a_500(
    client: TestClient, ann: Headers
) -> None:
    # json.dumps writes "\ud800" as an escape, which decodes to a lone surrogate.
    logout = post_raw(
        client, "/api/auth/logout", {}, json.dumps({"refresh_token": "\ud800"}).encode(),
        "application/json",
    )  # fmt: skip
    assert logout.status_code == 422
    assert logout.json() == {"detail": [CONTROL_CHARACTERS | {"loc": ["body", "refresh_token"]}]}
    change = client.put(
        "/api/users/me/password",
        headers=ann | {"Content-Type": "application/json"},
        content=json.dumps({"current_password": "\ud800", "new_password": "x" * 10}).encode(),
    )
    assert change.status_code == 400


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1f", "\x7f", "\x85"])
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/auth/verify-email", {}, "token"),
        ("/api/auth/reset-password", {"new_password": "battery staple horse"}, "token"),
        ("/api/auth/logout", {}, "refresh_token"),
    ],
)
def test_a_token_with_a_control_character_is_422_like_any_text_field(
    client: TestClient, path: str, body: dict[str, str], field: str, character: str
) -> None:
    # No token this service signs holds one: it is a malformed body, not an expired link.
    response = client.post(path, json=body | {field: f"eyJhbGciOi{character}JIUzI1NiJ9"})
    assert response.status_code == 422
    assert response.json() == {"detail": [CONTROL_CHARACTERS | {"loc": ["body", field]}]}


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("not an email", "An email address must have an @-sign."),
        ("ann@", "There must be something after the @-sign."),
        ("", "An email address must have an @-sign."),
    ],
)
def test_forgot_password_with_no_email_address_is_422_like_signup(
    client: TestClient, email: str, reason: str
) -> None:
    # No account can have such an address, so the 422 tells nothing about who is registered.
    response = client.post("/api/auth/forgot-password", json={"email": email})
    assert response.status_code == 422
    problem = {
        "type": "value_error",
        "loc": ["body", "email"],
        "msg": f"value is not a valid email address: {reason}",
        "ctx": {"reason": reason},
    }
    assert response.json() == {"detail": [problem]}
    signup = client.post("/api/auth/signup", json={"email": email, "password": "x" * 10})
    assert signup.json() == {"detail": [problem]}


def test_forgot_password_refuses_a_name_with_the_address_like_signup(client: TestClient) -> None:
    response = client.post("/api/auth/forgot-password", json={"email": "Ann <ann@example.com>"})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "email"]
    assert problem["msg"] == (
        "Value error, must be a bare email address, without a name or angle brackets"
    )
