"""Contacts: CRUD, validation, ownership and search, all through HTTP."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import contact_data, create_contact, first_model_public

Headers = dict[str, str]


def names(page: dict[str, Any]) -> list[str]:
    return [f"{item['first_name']} {item['last_name']}" for item in page["items"]]


# --- create ----------------------------------------------------------------------------------


def test_creating_a_contact_returns_201_with_its_location(client: TestClient, ann: Headers) -> None:
    response = client.post(
        "/api/contacts",
        headers=ann,
        json=contact_data(
            first_name="  Carol ", email=" Carol@Example.COM", notes="met at\tPyCon\n"
        ),
    )
    assert response.status_code == 201
    contact = response.json()
    assert response.headers["location"] == f"/api/contacts/{contact['id']}"
    # The first model's body reads back as it did, plus the new fields empty.
    assert contact | {"id": 0, "created_at": "", "updated_at": ""} == {
        "id": 0,
        "first_name": "Carol",
        "last_name": "Jones",
        "company": None,
        "job_title": None,
        "email": "carol@example.com",
        "phone": "+1 555 010 0199",
        "emails": [{"address": "carol@example.com", "label": None}],
        "phones": [{"number": "+1 555 010 0199", "label": None}],
        "addresses": [],
        "websites": [],
        "birthday": "1990-05-17",
        "notes": "met at\tPyCon\n",
        "favorite": False,
        "labels": [],
        "created_at": "",
        "updated_at": "",
    }
    created_at = datetime.fromisoformat(contact["created_at"])
    assert created_at.tzinfo is not None
    assert abs(created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert client.get(response.headers["location"], headers=ann).json() == contact


def test_notes_are_optional(client: TestClient, ann: Headers) -> None:
    data = contact_data()
    del data["notes"]
    response = client.post("/api/contacts", headers=ann, json=data)
    assert response.status_code == 201
    assert response.json()["notes"] is None


def test_two_contacts_of_a_book_may_share_an_email(client: TestClient, ann: Headers) -> None:
    # A family's address, a company's switchboard: the first model's 409 is gone.
    first = create_contact(client, ann, first_name="Carol", email="home@example.com")
    second = create_contact(client, ann, first_name="Dave", email="HOME@example.com ")
    assert second["email"] == first["email"] == "home@example.com"
    page = client.get("/api/contacts", headers=ann, params={"email": "home@"}).json()
    assert page["items"] == [first, second]


def test_two_users_may_each_have_a_contact_with_the_same_email(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    create_contact(client, ann, email="carol@example.com")
    create_contact(client, bob, email="carol@example.com")


def send_json(client: TestClient, method: str, url: str, headers: Headers, data: Any) -> Any:
    # json.dumps writes a lone surrogate as the escape "\ud800", as a hostile client could.
    headers = headers | {"Content-Type": "application/json"}
    return client.request(method, url, headers=headers, content=json.dumps(data))


def latest_birthday() -> date:
    return datetime.now(timezone(timedelta(hours=14))).date()


INVALID_FIELDS: list[tuple[str, Any]] = [
    ("first_name", "x" * 51),
    ("first_name", "Ca\x00rol"),
    ("first_name", "Ca\nrol"),
    ("first_name", "Ca\u0085rol"),  # a C1 control character
    ("first_name", "\ud800"),  # a lone surrogate: not storable text
    ("first_name", 42),
    ("last_name", "y" * 51),
    ("last_name", "Jo\x1bnes"),
    ("email", "not-an-email"),
    ("email", "carol@"),
    ("email", "ca\x00rol@example.com"),
    ("email", ""),
    ("phone", "12"),  # 2 digits
    ("phone", "1" * 21),  # 21 digits
    ("phone", "555 0100 x"),  # an extension without its digits
    ("phone", "555-CALL-NOW"),
    ("phone", "555 0100 +1"),  # '+' only in front
    ("phone", "++1 555 0100"),
    ("phone", "+１２３４５６７８"),  # full-width digits  # noqa: RUF001
    ("phone", "555\x000100"),
    ("birthday", "1990-02-30"),
    ("birthday", "17/05/1990"),
    ("birthday", "1990-5-17"),
    ("birthday", 643939200),  # Unix time is not a date
    ("birthday", "1990-05-17T00:00:00"),
    ("birthday", "--02-30"),
    ("birthday", "--13-01"),
    ("birthday", "--0517"),
    ("birthday", (latest_birthday() + timedelta(days=1)).isoformat()),
    ("notes", "x" * 10_001),
    ("notes", "a\x00b"),
    ("notes", "bell\x07"),
]


@pytest.mark.parametrize(("field", "value"), INVALID_FIELDS)
def test_creating_a_contact_with_an_invalid_field_is_422(
    client: TestClient, ann: Headers, field: str, value: Any
) -> None:
    response = send_json(client, "POST", "/api/contacts", ann, contact_data(**{field: value}))
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]


NO_NAME = {
    "detail": [
        {
            "type": "value_error",
            "loc": ["body"],
            "msg": "Value error, a contact needs a name: first_name, last_name or company",
            "ctx": {"error": {}},
        }
    ]
}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@example.com", "phone": "555 0100", "birthday": "1990-05-17"},
        {"first_name": "  ", "last_name": "", "company": None},
    ],
)
def test_a_contact_without_a_name_is_422(client: TestClient, ann: Headers, body: Any) -> None:
    response = client.post("/api/contacts", headers=ann, json=body)
    assert response.status_code == 422
    assert response.json() == NO_NAME


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", "x" * 50),
        ("first_name", "Zoë 李"),
        ("phone", "112"),
        ("phone", "+" + "1" * 20),
        ("phone", "(555) 010.0199"),
        ("phone", "555 0100 x12"),
        ("phone", "+1 555 0100 ext. 12"),
        ("phone", "555 0100;ext=12"),
        ("phone", "*67 555/0100 #"),
        ("birthday", "2000-02-29"),
        ("birthday", "--02-29"),
        ("birthday", "--12-31"),
        ("notes", "x" * 10_000),
        ("notes", "line one\nline two\ttabbed"),
        ("email", "o'brien+tag@sub.example.co.uk"),
    ],
)
def test_edge_values_that_are_valid_are_stored_as_sent(
    client: TestClient, ann: Headers, field: str, value: str
) -> None:
    contact = create_contact(client, ann, **{field: value})
    assert contact[field] == value


def test_a_birthday_of_today_in_the_earliest_time_zone_is_accepted(
    client: TestClient, ann: Headers
) -> None:
    contact = create_contact(client, ann, birthday=latest_birthday().isoformat())
    assert contact["birthday"] == latest_birthday().isoformat()


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
        (b"null", "application/json"),
    ],
)
def test_a_body_that_is_not_a_contact_object_is_422(
    client: TestClient, ann: Headers, content: bytes, content_type: str
) -> None:
    response = client.post(
        "/api/contacts", headers=ann | {"Content-Type": content_type}, content=content
    )
    assert response.status_code == 422


def test_client_supplied_id_and_owner_are_ignored(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    bobs = create_contact(client, bob)
    response = client.post(
        "/api/contacts",
        headers=ann,
        json=contact_data(id=bobs["id"], owner_id=999, email="other@example.com"),
    )
    assert response.status_code == 201
    assert response.json()["id"] != bobs["id"]
    assert client.get(f"/api/contacts/{bobs['id']}", headers=bob).json() == bobs


# --- read, update, delete --------------------------------------------------------------------


def test_put_replaces_every_field(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann, notes="old notes")
    replacement = contact_data(
        first_name="Dora",
        last_name="Kim",
        email="dora@example.com",
        phone="020 7946 0000",
        birthday="1985-12-31",
    )
    del replacement["notes"]
    response = client.put(f"/api/contacts/{contact['id']}", headers=ann, json=replacement)
    assert response.status_code == 200
    updated = response.json()
    assert updated == first_model_public(replacement) | {
        "id": contact["id"],
        "created_at": contact["created_at"],
        "updated_at": updated["updated_at"],
    }
    assert updated["updated_at"] > contact["updated_at"]
    assert client.get(f"/api/contacts/{contact['id']}", headers=ann).json() == updated


def test_put_of_a_name_alone_leaves_the_contact_only_its_name(
    client: TestClient, ann: Headers
) -> None:
    contact = create_contact(client, ann, favorite=True, labels=["Family"])
    url = f"/api/contacts/{contact['id']}"
    response = client.put(url, headers=ann, json={"first_name": "Dora"})
    assert response.status_code == 200
    updated = response.json()
    assert updated == first_model_public({"first_name": "Dora"}) | {
        "id": contact["id"],
        "created_at": contact["created_at"],
        "updated_at": updated["updated_at"],
    }
    assert client.put(url, headers=ann, json={"birthday": "1990-05-17"}).json() == NO_NAME


def test_patch_changes_only_the_fields_sent(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann, notes="keep me")
    response = client.patch(
        f"/api/contacts/{contact['id']}", headers=ann, json={"phone": " 555-0100-22 "}
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated == contact | {
        "phone": "555-0100-22",
        "phones": [{"number": "555-0100-22", "label": None}],
        "updated_at": updated["updated_at"],
    }
    assert client.get(f"/api/contacts/{contact['id']}", headers=ann).json() == updated


def test_patch_may_clear_notes_with_null(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann, notes="old")
    response = client.patch(f"/api/contacts/{contact['id']}", headers=ann, json={"notes": None})
    assert response.json()["notes"] is None


@pytest.mark.parametrize(
    "field", ["favorite", "labels", "emails", "phones", "addresses", "websites"]
)
def test_patch_with_null_on_a_field_that_has_no_none_is_422(
    client: TestClient, ann: Headers, field: str
) -> None:
    contact = create_contact(client, ann)
    response = client.patch(f"/api/contacts/{contact['id']}", headers=ann, json={field: None})
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    assert client.get(f"/api/contacts/{contact['id']}", headers=ann).json() == contact


@pytest.mark.parametrize(
    ("change", "cleared"),
    [
        ({"first_name": None}, {"first_name": None}),
        ({"birthday": None}, {"birthday": None}),
        ({"email": None}, {"email": None, "emails": []}),
        ({"phone": None}, {"phone": None, "phones": []}),
    ],
)
def test_patch_with_null_clears_an_optional_field(
    client: TestClient, ann: Headers, change: dict[str, Any], cleared: dict[str, Any]
) -> None:
    contact = create_contact(client, ann)
    response = client.patch(f"/api/contacts/{contact['id']}", headers=ann, json=change)
    assert response.status_code == 200
    assert response.json() == contact | cleared | {"updated_at": response.json()["updated_at"]}


def test_a_patch_that_leaves_the_contact_without_a_name_is_422(
    client: TestClient, ann: Headers
) -> None:
    contact = create_contact(client, ann, first_name="Carol", last_name=None)
    url = f"/api/contacts/{contact['id']}"
    response = client.patch(url, headers=ann, json={"first_name": " ", "notes": "x"})
    assert response.status_code == 422
    assert response.json() == NO_NAME
    assert client.get(url, headers=ann).json() == contact
    named = client.patch(url, headers=ann, json={"first_name": None, "company": "Acme"})
    assert named.status_code == 200
    assert (named.json()["first_name"], named.json()["company"]) == (None, "Acme")


@pytest.mark.parametrize(("field", "value"), INVALID_FIELDS)
def test_patch_validates_like_create(
    client: TestClient, ann: Headers, field: str, value: Any
) -> None:
    contact = create_contact(client, ann)
    response = send_json(client, "PATCH", f"/api/contacts/{contact['id']}", ann, {field: value})
    assert response.status_code == 422


def test_a_contact_can_keep_its_own_email_on_put(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann)
    response = client.put(
        f"/api/contacts/{contact['id']}", headers=ann, json=contact_data(first_name="Caroline")
    )
    assert response.status_code == 200


def test_delete_removes_the_contact(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann)
    response = client.delete(f"/api/contacts/{contact['id']}", headers=ann)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/api/contacts/{contact['id']}", headers=ann).status_code == 404
    assert client.delete(f"/api/contacts/{contact['id']}", headers=ann).status_code == 404


@pytest.mark.parametrize(
    "contact_id", ["0", "000", "2147483648", "99999999999999999999999", "9" * 500]
)
def test_ids_that_cannot_exist_are_404(client: TestClient, ann: Headers, contact_id: str) -> None:
    url = f"/api/contacts/{contact_id}"
    assert client.get(url, headers=ann).status_code == 404
    assert client.put(url, headers=ann, json=contact_data()).status_code == 404
    assert client.patch(url, headers=ann, json={"notes": "x"}).status_code == 404
    assert client.delete(url, headers=ann).status_code == 404


@pytest.mark.parametrize("contact_id", ["abc", "1.5", "1e3", "-1", "+1", "birthdays2"])
def test_a_path_that_is_not_a_contact_id_is_404(
    client: TestClient, ann: Headers, contact_id: str
) -> None:
    response = client.get(f"/api/contacts/{contact_id}", headers=ann)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/contacts/birthdays", "GET"),
        ("DELETE", "/api/contacts", "GET, POST"),
        ("OPTIONS", "/api/contacts/1", "DELETE, GET, PATCH, PUT"),
        ("GET", "/api/auth/token", "POST"),
    ],
)
def test_a_method_a_path_does_not_have_is_405_with_every_allowed_method(
    client: TestClient, ann: Headers, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path, headers=ann)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


def test_a_body_that_is_not_utf8_is_422(client: TestClient, ann: Headers) -> None:
    response = client.post(
        "/api/contacts",
        headers=ann | {"Content-Type": "application/json"},
        content=b'{"first_name": "\xff\xfe"}',
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "body_unreadable",
                "loc": ["body"],
                "msg": "The body could not be read: There was an error parsing the body",
            }
        ]
    }


# --- ownership -------------------------------------------------------------------------------


def test_another_users_contact_is_404_on_every_route(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    bobs = create_contact(client, bob, first_name="Bobs", birthday="1990-01-01")
    url = f"/api/contacts/{bobs['id']}"
    responses = [
        client.get(url, headers=ann),
        client.put(url, headers=ann, json=contact_data()),
        client.patch(url, headers=ann, json={"first_name": "Stolen"}),
        client.delete(url, headers=ann),
    ]
    assert [response.status_code for response in responses] == [404] * 4
    assert {response.json()["detail"] for response in responses} == {"Contact not found"}
    assert client.get(url, headers=bob).json() == bobs


def test_another_users_contacts_never_appear_in_lists_searches_or_birthdays(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    create_contact(client, bob, first_name="Bobs", email="friend@example.com")
    mine = create_contact(client, ann, first_name="Anns", email="pal@example.com")
    assert client.get("/api/contacts", headers=ann).json()["items"] == [mine]
    for query in ("q=friend", "first_name=Bobs", "email=friend", "q=example"):
        page = client.get(f"/api/contacts?{query}", headers=ann).json()
        assert bobs_absent(page["items"]), query
    birthdays = client.get("/api/contacts/birthdays?days=366", headers=ann).json()
    assert [contact["id"] for contact in birthdays] == [mine["id"]]


def bobs_absent(items: list[dict[str, Any]]) -> bool:
    return all(item["first_name"] != "Bobs" for item in items)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/contacts"),
        ("POST", "/api/contacts"),
        ("GET", "/api/contacts/birthdays"),
        ("GET", "/api/contacts/1"),
        ("PUT", "/api/contacts/1"),
        ("PATCH", "/api/contacts/1"),
        ("DELETE", "/api/contacts/1"),
    ],
)
def test_every_contact_route_needs_a_token(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json=contact_data())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# --- list and search -------------------------------------------------------------------------


@pytest.fixture
def book(client: TestClient, ann: Headers) -> dict[str, dict[str, Any]]:
    people = [
        ("Ann", "Smith", "ann.smith@example.com"),
        ("Anna", "Smithers", "anna@work.example.org"),
        ("Bob", "Annan", "bob@example.com"),
        ("Cleo", "Jones", "cleo_100%@example.com"),
        ("Dan", "O'Neil", "dan@example.com"),
        ("Éva", "Zed", "eva@example.com"),
        ("Fay", "Back\\slash", "fay@example.com"),
    ]
    return {
        first: create_contact(client, ann, first_name=first, last_name=last, email=email)
        for first, last, email in people
    }


# The book's contacts in list order: last name, first name, id.
BOOK_IN_ORDER = [
    "Bob Annan",
    "Fay Back\\slash",
    "Cleo Jones",
    "Dan O'Neil",
    "Ann Smith",
    "Anna Smithers",
    "Éva Zed",
]


def search(client: TestClient, headers: Headers, **params: Any) -> dict[str, Any]:
    response = client.get("/api/contacts", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_list_is_ordered_by_last_name_first_name_and_id(
    client: TestClient, ann: Headers, book: dict[str, Any]
) -> None:
    page = search(client, ann)
    assert names(page) == BOOK_IN_ORDER
    assert page | {"items": []} == {"items": [], "total": 7, "limit": 20, "offset": 0}


def test_same_names_are_ordered_by_id(client: TestClient, ann: Headers) -> None:
    first = create_contact(client, ann, email="one@example.com")
    second = create_contact(client, ann, email="two@example.com")
    assert search(client, ann)["items"] == [first, second]


def test_pages_carry_the_total_of_all_matches(
    client: TestClient, ann: Headers, book: dict[str, Any]
) -> None:
    page = search(client, ann, limit=2, offset=2)
    assert names(page) == ["Cleo Jones", "Dan O'Neil"]
    assert page | {"items": []} == {"items": [], "total": 7, "limit": 2, "offset": 2}
    beyond = search(client, ann, limit=2, offset=10)
    assert beyond == {"items": [], "total": 7, "limit": 2, "offset": 10}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "ann smi"}, ["Ann Smith", "Anna Smithers"]),
        ({"q": "ANN"}, ["Bob Annan", "Ann Smith", "Anna Smithers"]),
        ({"q": "  smith   anna "}, ["Anna Smithers"]),
        ({"q": "work.example"}, ["Anna Smithers"]),
        ({"q": "ann nobody"}, []),
        ({"first_name": "ann"}, ["Ann Smith", "Anna Smithers"]),
        ({"first_name": "ann smi"}, []),  # a field filter is not split into words
        ({"last_name": " smith "}, ["Ann Smith", "Anna Smithers"]),
        (
            {"email": "EXAMPLE.COM"},
            ["Bob Annan", "Fay Back\\slash", "Cleo Jones", "Dan O'Neil", "Ann Smith", "Éva Zed"],
        ),
        ({"first_name": "ann", "last_name": "ers"}, ["Anna Smithers"]),
        ({"q": "ann", "email": "bob"}, ["Bob Annan"]),
        (
            {"q": "", "first_name": "  ", "email": ""},
            BOOK_IN_ORDER,
        ),
        ({"q": "%"}, ["Cleo Jones"]),
        ({"q": "_"}, ["Cleo Jones"]),
        ({"email": "o_1"}, ["Cleo Jones"]),
        ({"q": "\\"}, ["Fay Back\\slash"]),
        ({"q": "k\\s"}, ["Fay Back\\slash"]),
        ({"last_name": "K\\SLASH"}, ["Fay Back\\slash"]),
        ({"q": "o'n"}, ["Dan O'Neil"]),
        ({"q": "éva"}, ["Éva Zed"]),
    ],
)
def test_search(
    client: TestClient,
    ann: Headers,
    book: dict[str, Any],
    params: dict[str, str],
    expected: list[str],
) -> None:
    page = search(client, ann, **params)
    assert names(page) == expected
    assert page["total"] == len(expected)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"offset": 2**31},
        {"offset": 10**30},
        {"limit": "ten"},
        {"q": "x" * 201},
        {"q": "a\x00b"},
        {"first_name": "\x1b"},
        {"email": "a\x00"},
    ],
)
def test_bad_list_parameters_are_422(
    client: TestClient, ann: Headers, params: dict[str, Any]
) -> None:
    response = client.get("/api/contacts", headers=ann, params=params)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_limit_100_and_the_largest_offset_are_accepted(client: TestClient, ann: Headers) -> None:
    page = search(client, ann, limit=100, offset=2**31 - 1)
    assert page == {"items": [], "total": 0, "limit": 100, "offset": 2**31 - 1}


def test_concurrent_writes_to_one_contact_never_fail_with_5xx(
    client: TestClient, ann: Headers
) -> None:
    outcomes = []
    for _ in range(15):
        contact = create_contact(client, ann, email="racer@example.com")
        url = f"/api/contacts/{contact['id']}"
        barrier = threading.Barrier(3)

        def call(method: str, body: Any = None, url: str = url, barrier: Any = barrier) -> int:
            barrier.wait()
            return client.request(method, url, headers=ann, json=body).status_code

        with ThreadPoolExecutor(max_workers=3) as pool:
            patched = pool.submit(call, "PATCH", {"notes": "late"})
            deletes = [pool.submit(call, "DELETE") for _ in range(2)]
            outcomes.append((patched.result(), sorted(d.result() for d in deletes)))
    for patch_code, delete_codes in outcomes:
        assert patch_code in (200, 404)
        assert delete_codes == [204, 404]  # exactly one of the two deletes did it
    assert client.get("/api/contacts", headers=ann).json()["total"] == 0


def test_an_email_with_a_display_name_is_422(client: TestClient, ann: Headers) -> None:
    response = client.post(
        "/api/contacts", headers=ann, json=contact_data(email="Evil Name <x@example.com>")
    )
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "email"]]


def test_search_text_may_hold_tabs_and_line_breaks(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann, first_name="Ann", last_name="Smith")
    page = client.get("/api/contacts", headers=ann, params={"q": "ann\tsmith\n"}).json()
    assert [item["id"] for item in page["items"]] == [contact["id"]]


def test_every_read_of_the_book_is_401_once_the_session_is_closed(client: TestClient) -> None:
    """The list, its pages past the end and birthdays check the session in the statement that
    reads the rows, or after it finds none: an empty book is not how a closed session looks."""
    from tests.helpers import log_in, sign_up

    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    create_contact(client, headers)
    paths = (
        "/api/contacts",
        "/api/contacts?offset=5",
        "/api/contacts?q=nobody",
        "/api/contacts?label=Family",
        "/api/contacts/birthdays?days=366",
    )
    for path in paths:
        assert client.get(path, headers=headers).status_code == 200, path
    client.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    for path in paths:
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "Invalid or expired access token"}
        assert response.headers["www-authenticate"] == "Bearer"
    # docs/readings.md: these two check the session after FastAPI has checked the query, the
    # trash (like most routes) before.
    assert client.get("/api/contacts?limit=0", headers=headers).status_code == 422
    assert client.get("/api/contacts/birthdays?tz=Nowhere/X", headers=headers).status_code == 422
    assert client.get("/api/contacts/trash?limit=0", headers=headers).status_code == 401


def test_a_closed_session_is_401_even_for_an_id_that_cannot_exist(client: TestClient) -> None:
    from tests.helpers import log_in, sign_up

    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    client.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    for contact_id in ("1", "2147483648"):
        assert client.get(f"/api/contacts/{contact_id}", headers=headers).status_code == 401
