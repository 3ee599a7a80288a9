"""The contact as people keep it: a name is enough; lists of emails, phones, addresses and
websites with labels; company and job title; birthdays without a year; `email` and `phone` as
the primary entries. And what search and the list order derive from them in the database."""

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

Headers = dict[str, str]

FULL = {
    "first_name": "Олена",
    "last_name": "Коваленко",
    "company": "Acme Ltd",
    "job_title": "Chief Engineer",
    "emails": [
        {"address": "olena@work.example.com", "label": "work"},
        {"address": "olena@home.example.org", "label": None},
    ],
    "phones": [
        {"number": "+380 44 123 4567", "label": "mobile"},
        {"number": "+1 (555) 010-0199 ext. 77", "label": "Grandma's"},
    ],
    "addresses": [
        {
            "label": "home",
            "po_box": None,
            "extended": "Apt. 4",
            "street": "12 Khreshchatyk St\nBuilding B",
            "city": "Kyiv",
            "region": None,
            "postal_code": "01001",
            "country": "Ukraine",
        }
    ],
    "websites": [{"url": "https://olena.example.com/blog?x=1", "label": "blog"}],
    "birthday": "--05-17",
    "notes": "Met at PyCon",
    "favorite": True,
    "labels": ["Work"],
}


def post(client: TestClient, headers: Headers, body: dict[str, Any]) -> Any:
    return client.post("/api/contacts", headers=headers, json=body)


def without_stamps(contact: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in contact.items() if k not in ("id", "created_at", "updated_at")}


def test_every_field_comes_back_as_sent(client: TestClient, ann: Headers) -> None:
    response = post(client, ann, FULL)
    assert response.status_code == 201, response.text
    contact = response.json()
    expected = FULL | {"email": "olena@work.example.com", "phone": "+380 44 123 4567"}
    assert without_stamps(contact) == expected
    assert client.get(f"/api/contacts/{contact['id']}", headers=ann).json() == contact
    assert client.get("/api/contacts", headers=ann).json()["items"] == [contact]


def test_a_put_that_omits_the_lists_empties_them(client: TestClient, ann: Headers) -> None:
    contact = post(client, ann, FULL).json()
    response = client.put(f"/api/contacts/{contact['id']}", headers=ann, json={"company": "X"})
    assert without_stamps(response.json()) == {
        "first_name": None,
        "last_name": None,
        "company": "X",
        "job_title": None,
        "email": None,
        "phone": None,
        "emails": [],
        "phones": [],
        "addresses": [],
        "websites": [],
        "birthday": None,
        "notes": None,
        "favorite": False,
        "labels": [],
    }


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"emails": [{"address": f"a{n}@example.com"} for n in range(21)]}, ["body", "emails"]),
        ({"phones": [{"number": f"555 01{n:02}"} for n in range(21)]}, ["body", "phones"]),
        ({"addresses": [{"city": "Kyiv"}] * 11}, ["body", "addresses"]),
        ({"websites": [{"url": "https://example.com"}] * 11}, ["body", "websites"]),
        ({"emails": None}, ["body", "emails"]),
        ({"labels": None}, ["body", "labels"]),
        ({"emails": [{"address": "not-an-email"}]}, ["body", "emails", 0, "address"]),
        (
            {"emails": [{"address": "a@example.com", "label": "x" * 31}]},
            ["body", "emails", 0, "label"],
        ),
        (
            {"emails": [{"address": "a@example.com", "label": "a\x00b"}]},
            ["body", "emails", 0, "label"],
        ),
        ({"phones": [{"number": "call me"}]}, ["body", "phones", 0, "number"]),
        ({"phones": [{"label": "mobile"}]}, ["body", "phones", 0, "number"]),
        ({"addresses": [{"label": "home"}]}, ["body", "addresses", 0]),
        ({"addresses": [{"city": " ", "street": ""}]}, ["body", "addresses", 0]),
        ({"addresses": [{"city": "x" * 201}]}, ["body", "addresses", 0, "city"]),
        ({"addresses": [{"city": "Ky\tiv"}]}, ["body", "addresses", 0, "city"]),
        ({"websites": [{"url": "ftp://example.com"}]}, ["body", "websites", 0, "url"]),
        ({"websites": [{"url": "example.com"}]}, ["body", "websites", 0, "url"]),
        ({"websites": [{"url": "https://"}]}, ["body", "websites", 0, "url"]),
        ({"websites": [{"url": "https://e.com/" + "x" * 1990}]}, ["body", "websites", 0, "url"]),
        ({"company": "x" * 101}, ["body", "company"]),
        ({"job_title": "x" * 101}, ["body", "job_title"]),
        ({"email": "a@example.com", "emails": []}, ["body"]),
        ({"phone": "555 0100", "phones": []}, ["body"]),
    ],
)
def test_a_field_that_breaks_its_rule_is_422_and_says_where(
    client: TestClient, ann: Headers, body: dict[str, Any], where: list[Any]
) -> None:
    response = post(client, ann, {"first_name": "Ann"} | body)
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [where]


def test_an_address_appears_once_in_a_contact(client: TestClient, ann: Headers) -> None:
    body = {
        "first_name": "Ann",
        "emails": [{"address": "a@example.com"}, {"address": "A@Example.com "}],
    }
    response = post(client, ann, body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        "Value error, a@example.com appears twice: an address appears once a contact"
    )


def test_labels_and_parts_are_trimmed_and_blank_is_none(client: TestClient, ann: Headers) -> None:
    contact = post(
        client,
        ann,
        {
            "first_name": " ",
            "last_name": " Lee ",
            "company": "  ",
            "emails": [{"address": " Lee@Example.com", "label": "  "}],
            "addresses": [{"label": " home ", "city": " Kyiv ", "street": " "}],
        },
    ).json()
    assert (contact["first_name"], contact["last_name"], contact["company"]) == (None, "Lee", None)
    assert contact["emails"] == [{"address": "lee@example.com", "label": None}]
    assert contact["addresses"] == [
        {
            "label": "home",
            "po_box": None,
            "extended": None,
            "street": None,
            "city": "Kyiv",
            "region": None,
            "postal_code": None,
            "country": None,
        }
    ]


def test_a_company_alone_is_a_contact(client: TestClient, ann: Headers) -> None:
    response = post(client, ann, {"company": "Pizza Roma", "phone": "555 0100"})
    assert response.status_code == 201
    assert without_stamps(response.json())["company"] == "Pizza Roma"


# --- `email` and `phone`: the primary entries ---------------------------------------------


def patch(client: TestClient, headers: Headers, contact: dict[str, Any], body: Any) -> Any:
    response = client.patch(f"/api/contacts/{contact['id']}", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_patching_email_replaces_the_primary_address_and_keeps_its_label(
    client: TestClient, ann: Headers
) -> None:
    contact = post(client, ann, FULL).json()
    changed = patch(client, ann, contact, {"email": "New@Example.com"})
    assert changed["emails"] == [
        {"address": "new@example.com", "label": "work"},
        {"address": "olena@home.example.org", "label": None},
    ]
    assert changed["email"] == "new@example.com"
    changed = patch(client, ann, changed, {"phone": "555 0100"})
    assert changed["phones"] == [
        {"number": "555 0100", "label": "mobile"},
        {"number": "+1 (555) 010-0199 ext. 77", "label": "Grandma's"},
    ]


def test_patching_email_to_null_removes_the_primary_and_the_next_one_becomes_primary(
    client: TestClient, ann: Headers
) -> None:
    contact = post(client, ann, FULL).json()
    changed = patch(client, ann, contact, {"email": None, "phone": None})
    assert (changed["email"], changed["phone"]) == (
        "olena@home.example.org",
        "+1 (555) 010-0199 ext. 77",
    )
    assert changed["emails"] == [{"address": "olena@home.example.org", "label": None}]
    changed = patch(client, ann, changed, {"email": None})
    assert (changed["email"], changed["emails"]) == (None, [])


def test_patching_email_on_a_contact_without_one_adds_it(client: TestClient, ann: Headers) -> None:
    contact = post(client, ann, {"first_name": "Mom"}).json()
    changed = patch(client, ann, contact, {"email": "mom@example.com", "phone": "555 0100"})
    assert changed["emails"] == [{"address": "mom@example.com", "label": None}]
    assert changed["phones"] == [{"number": "555 0100", "label": None}]


def test_a_post_with_email_null_has_no_emails(client: TestClient, ann: Headers) -> None:
    contact = post(client, ann, {"first_name": "Mom", "email": None, "phone": None}).json()
    assert (contact["email"], contact["emails"], contact["phone"], contact["phones"]) == (
        None,
        [],
        None,
        [],
    )


def test_a_patch_with_both_email_and_emails_is_422(client: TestClient, ann: Headers) -> None:
    contact = post(client, ann, FULL).json()
    response = client.patch(
        f"/api/contacts/{contact['id']}", headers=ann, json={"email": "a@b.org", "emails": []}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "Value error, send `email` or `emails`, not both"


# --- The list order and search ------------------------------------------------------------


def test_the_list_orders_by_last_name_else_first_name_else_company(
    client: TestClient, ann: Headers
) -> None:
    for body in (
        {"first_name": "Ann", "last_name": "Lee"},
        {"company": "Baker's"},
        {"first_name": "Kate"},
        {"last_name": "Lee"},
        {"first_name": "Abe", "last_name": "Lee"},
        {"company": "Zinc", "first_name": "Carl"},
    ):
        post(client, ann, body)
    items = client.get("/api/contacts", headers=ann).json()["items"]
    assert [(c["first_name"], c["last_name"], c["company"]) for c in items] == [
        (None, None, "Baker's"),
        ("Carl", None, "Zinc"),
        ("Kate", None, None),
        (None, "Lee", None),  # no first name: before the Lees that have one
        ("Abe", "Lee", None),
        ("Ann", "Lee", None),
    ]


@pytest.fixture
def searched_book(client: TestClient, ann: Headers) -> dict[str, int]:
    bodies: dict[str, dict[str, Any]] = {
        "olena": FULL,
        "pizza": {
            "company": "Pizza Roma",
            "phones": [{"number": "(020) 7946-0958"}, {"number": "0800 123 456"}],
        },
        "carl": {
            "first_name": "Carl",
            "emails": [{"address": "carl@a.example"}, {"address": "second@b.example"}],
            "phones": [{"number": "555 0199 x42"}],
        },
    }
    return {name: post(client, ann, body).json()["id"] for name, body in bodies.items()}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "acme"}, ["olena"]),
        ({"q": "roma"}, ["pizza"]),
        ({"q": "second@"}, ["carl"]),  # any email, not only the primary one
        ({"q": "home.example"}, ["olena"]),
        ({"q": "5550100"}, ["olena"]),  # the digits of "+1 (555) 010-0199"
        ({"q": "5550199"}, ["carl"]),
        ({"q": "555-010-0199"}, ["olena"]),  # separators allowed in a word of digits
        ({"q": "7946 0958"}, ["pizza"]),  # two words, both in one number
        ({"q": "0958 0800"}, ["pizza"]),  # two words, each in another number
        ({"q": "09580800"}, []),  # never across two numbers
        ({"q": "42"}, []),  # an extension is not the number
        ({"q": "77"}, []),
        ({"q": "carl 0199"}, ["carl"]),
        ({"company": "pizza"}, ["pizza"]),
        ({"company": "pizza roma"}, ["pizza"]),  # a filter is not split into words
        ({"email": "B.EXAMPLE"}, ["carl"]),
        ({"phone": "+1 555 010"}, ["olena"]),
        ({"phone": "0800 123"}, ["pizza"]),
        ({"phone": "  "}, ["carl", "pizza", "olena"]),
        ({"phone": "380", "company": "acme"}, ["olena"]),
    ],
)
def test_search_finds_companies_any_email_and_phone_digits(
    client: TestClient,
    ann: Headers,
    searched_book: dict[str, int],
    params: dict[str, str],
    expected: list[str],
) -> None:
    page = client.get("/api/contacts", headers=ann, params=params).json()
    by_id = {id_: name for name, id_ in searched_book.items()}
    assert [by_id[item["id"]] for item in page["items"]] == expected


def test_a_phone_filter_without_digits_is_422(client: TestClient, ann: Headers) -> None:
    response = client.get("/api/contacts", headers=ann, params={"phone": "mobile"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        "Value error, must contain the digits to look for, such as 555 0100"
    )


def test_a_row_written_by_plain_sql_is_found_and_ordered_like_one_written_here(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    # The keys of search, the list order and birthdays are the database's: a bulk load finds
    # them computed.
    owner_id = client.get("/api/users/me", headers=ann).json()["id"]
    mine = post(client, ann, {"last_name": "Zed"}).json()
    with sync_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO contacts (owner_id, company, emails, phones, created_at, updated_at)"
                " VALUES (:owner, 'Bulk Ltd', :emails, :phones, :now, :now)"
            ),
            {
                "owner": owner_id,
                "emails": '[{"address": "sales@bulk.example", "label": "work"}]',
                "phones": '[{"number": "+44 20 7946 0000;ext=5", "label": null}]',
                "now": datetime.now(UTC),
            },
        )
    names = [item["company"] for item in client.get("/api/contacts", headers=ann).json()["items"]]
    assert names == ["Bulk Ltd", None]
    for params in ({"q": "sales@bulk"}, {"q": "2079460000"}, {"phone": "7946 0000"}):
        page = client.get("/api/contacts", headers=ann, params=params).json()
        assert [item["company"] for item in page["items"]] == ["Bulk Ltd"], params
    assert client.get("/api/contacts", headers=ann, params={"q": "5"}).json()["total"] == 0
    bulk = client.get("/api/contacts", headers=ann, params={"company": "bulk"}).json()["items"][0]
    assert (bulk["email"], bulk["phone"]) == ("sales@bulk.example", "+44 20 7946 0000;ext=5")
    assert bulk["id"] != mine["id"]


@pytest.mark.parametrize(
    ("search", "index"),
    [
        ("q", "ix_contacts_emails_trgm"),
        ("phone", "ix_contacts_phone_digits_trgm"),
        ("company", "ix_contacts_company_trgm"),
    ],
)
def test_search_reads_the_trigram_index_of_the_list_it_searches(
    sync_engine: Any, search: str, index: str
) -> None:
    """On PostgreSQL the query's expression must be the index's, constants included, or the
    planner reads every contact of the user: EXPLAIN names the index. SQLite has no such
    index: it computes the same text as it scans."""
    from sqlmodel import col, select

    from contacts_api.models import Contact, phone_digits
    from contacts_api.routes.contacts import contains_text, word_matches

    condition = {
        "q": lambda: word_matches("olena@work"),
        "phone": lambda: phone_digits(Contact.phones).contains("3804412"),
        "company": lambda: contains_text(Contact.company, "acme"),
    }[search]()
    # The condition alone: with the owner's too, the planner may rightly prefer an index on
    # the owner (CardDAV's names) for a tiny table, which says nothing of the expression.
    statement = select(col(Contact.id)).where(condition)
    sql = str(
        statement.compile(dialect=sync_engine.dialect, compile_kwargs={"literal_binds": True})
    )
    with sync_engine.begin() as connection:
        if sync_engine.dialect.name == "sqlite":
            plan = connection.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
            assert plan[0][-1] == "SCAN contacts"
            return
        # A tiny table would be read whole anyway: the plan must be able to use the index.
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(connection.execute(text(f"EXPLAIN {sql}")).scalars())
    assert index in plan, plan
