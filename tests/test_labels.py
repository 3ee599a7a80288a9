"""Favourites and labels: on contacts, the label routes with counts, the filters, ownership."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import contact_data, create_contact, race

Headers = dict[str, str]


def labels(client: TestClient, headers: Headers) -> list[tuple[str, int]]:
    response = client.get("/api/labels", headers=headers)
    assert response.status_code == 200, response.text
    return [(label["name"], label["contacts"]) for label in response.json()]


def label_id(client: TestClient, headers: Headers, name: str) -> int:
    [found] = [
        label
        for label in client.get("/api/labels", headers=headers).json()
        if label["name"] == name
    ]
    return found["id"]  # type: ignore[no-any-return]


def search(client: TestClient, headers: Headers, **params: Any) -> list[str]:
    response = client.get("/api/contacts", headers=headers, params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"])
    return [item["first_name"] for item in page["items"]]


# --- On contacts ------------------------------------------------------------------------------


def test_favorite_and_labels_default_to_false_and_empty(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann)
    assert (contact["favorite"], contact["labels"]) == (False, [])


def test_labels_are_stored_once_each_ordered_by_name_spelled_as_first_given(
    client: TestClient, ann: Headers
) -> None:
    contact = create_contact(
        client, ann, favorite=True, labels=[" work ", "Family", "WORK", "école", "Book club"]
    )
    assert contact["favorite"] is True
    assert contact["labels"] == ["Book club", "école", "Family", "work"]
    assert client.get(f"/api/contacts/{contact['id']}", headers=ann).json() == contact
    assert labels(client, ann) == [("Book club", 1), ("école", 1), ("Family", 1), ("work", 1)]


def test_a_name_matching_a_label_case_insensitively_keeps_the_labels_spelling(
    client: TestClient, ann: Headers
) -> None:
    create_contact(client, ann, email="a@example.com", labels=["Work", "Équipe"])
    second = create_contact(client, ann, email="b@example.com", labels=["WORK", "équipe"])
    assert second["labels"] == ["Équipe", "Work"]
    assert labels(client, ann) == [("Équipe", 2), ("Work", 2)]


@pytest.mark.parametrize(
    "value",
    [
        ["x" * 51],
        [""],
        ["   "],
        ["a,b"],
        ["a;b"],
        ["tab\there"],
        ["nul\x00"],
        [f"label {n}" for n in range(21)],
        "Work",
        [1],
        None,
    ],
)
def test_invalid_labels_are_422(client: TestClient, ann: Headers, value: Any) -> None:
    response = client.post("/api/contacts", headers=ann, json=contact_data(labels=value))
    assert response.status_code == 422, response.text
    assert {tuple(error["loc"][:2]) for error in response.json()["detail"]} == {("body", "labels")}
    patch = client.patch(
        f"/api/contacts/{create_contact(client, ann)['id']}", headers=ann, json={"labels": value}
    )
    assert patch.status_code == 422
    assert labels(client, ann) == []


def test_twenty_labels_of_fifty_characters_are_accepted(client: TestClient, ann: Headers) -> None:
    names = [f"{n:02d}" + "x" * 48 for n in range(20)]
    assert create_contact(client, ann, labels=names)["labels"] == names


@pytest.mark.parametrize("value", [None, "maybe", [], 2])
def test_an_invalid_favorite_is_422(client: TestClient, ann: Headers, value: Any) -> None:
    response = client.post("/api/contacts", headers=ann, json=contact_data(favorite=value))
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "favorite"]]


def test_put_without_favorite_and_labels_clears_them(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann, favorite=True, labels=["Work"])
    response = client.put(f"/api/contacts/{contact['id']}", headers=ann, json=contact_data())
    assert (response.json()["favorite"], response.json()["labels"]) == (False, [])
    assert labels(client, ann) == [("Work", 0)]  # the label stays, on no contact


def test_patch_changes_favorite_and_labels_only_when_sent(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann, labels=["Work"])
    url = f"/api/contacts/{contact['id']}"
    starred = client.patch(url, headers=ann, json={"favorite": True}).json()
    assert (starred["favorite"], starred["labels"]) == (True, ["Work"])
    relabelled = client.patch(url, headers=ann, json={"labels": ["Home", "work"]}).json()
    assert (relabelled["favorite"], relabelled["labels"]) == (True, ["Home", "Work"])
    renamed = client.patch(url, headers=ann, json={"first_name": "Dora"}).json()
    assert renamed["labels"] == ["Home", "Work"]
    cleared = client.patch(url, headers=ann, json={"labels": []}).json()
    assert cleared["labels"] == []
    assert client.get(url, headers=ann).json() == cleared
    for field in ("favorite", "labels"):
        response = client.patch(url, headers=ann, json={field: None})
        assert response.status_code == 422
        assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]


def test_a_failed_write_creates_no_label(client: TestClient, ann: Headers) -> None:
    contact = create_contact(client, ann)
    response = client.patch(
        f"/api/contacts/{contact['id']}",
        headers=ann | {"If-Match": '"1.999"'},
        json={"labels": ["New"]},
    )
    assert response.status_code == 412
    assert labels(client, ann) == []


# --- Filters -----------------------------------------------------------------------------------


@pytest.fixture
def labelled_book(client: TestClient, ann: Headers) -> None:
    for first, favorite, names in [
        ("Ann", True, ["Work", "Family"]),
        ("Bob", False, ["Work"]),
        ("Cleo", True, []),
        ("Dan", False, ["family"]),
        ("Gone", True, ["Work"]),
    ]:
        create_contact(
            client,
            ann,
            first_name=first,
            last_name=first,
            email=f"{first.lower()}@example.com",
            favorite=favorite,
            labels=names,
        )
    gone = client.get("/api/contacts", headers=ann, params={"q": "gone"}).json()["items"][0]
    client.delete(f"/api/contacts/{gone['id']}", headers=ann)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"label": "Work"}, ["Ann", "Bob"]),
        ({"label": " WORK "}, ["Ann", "Bob"]),
        ({"label": "family"}, ["Ann", "Dan"]),
        ({"label": "nobody"}, []),
        ({"label": "Wor"}, []),  # a label's whole name, not a substring
        ({"label": ""}, ["Ann", "Bob", "Cleo", "Dan"]),
        ({"favorite": "true"}, ["Ann", "Cleo"]),
        ({"favorite": "false"}, ["Bob", "Dan"]),
        ({"favorite": "true", "label": "work"}, ["Ann"]),
        ({"favorite": "false", "label": "family"}, ["Dan"]),
        ({"q": "an", "label": "family"}, ["Ann", "Dan"]),
        ({"q": "bo", "label": "family"}, []),
        ({"first_name": "o", "favorite": "false"}, ["Bob"]),
        ({"email": "cleo", "favorite": "true"}, ["Cleo"]),
    ],
)
def test_label_and_favorite_filters_combine_with_search(
    client: TestClient,
    ann: Headers,
    labelled_book: None,
    params: dict[str, str],
    expected: list[str],
) -> None:
    assert search(client, ann, **params) == expected


def test_a_bad_favorite_filter_is_422(client: TestClient, ann: Headers) -> None:
    response = client.get("/api/contacts", headers=ann, params={"favorite": "maybe"})
    assert response.status_code == 422


def test_the_label_filter_pages_and_counts(client: TestClient, ann: Headers) -> None:
    for n in range(5):
        create_contact(client, ann, first_name=f"P{n}", email=f"p{n}@example.com", labels=["Work"])
    create_contact(client, ann, first_name="Other", email="other@example.com")
    page = client.get(
        "/api/contacts", headers=ann, params={"label": "work", "limit": 2, "offset": 2}
    ).json()
    assert [item["first_name"] for item in page["items"]] == ["P2", "P3"]
    assert page["total"] == 5


# --- The label routes -----------------------------------------------------------------------


def test_labels_are_listed_by_name_with_counts_of_contacts_in_the_book(
    client: TestClient, ann: Headers, labelled_book: None
) -> None:
    # "Gone" is in the trash: it counts for no label.
    assert labels(client, ann) == [("Work", 2), ("Family", 2)][::-1]
    body = client.get("/api/labels", headers=ann).json()
    assert set(body[0]) == {"id", "name", "contacts"}


def test_creating_a_label_returns_201_with_its_location(client: TestClient, ann: Headers) -> None:
    response = client.post("/api/labels", headers=ann, json={"name": "  Book club "})
    assert response.status_code == 201
    label = response.json()
    assert label == {"id": label["id"], "name": "Book club", "contacts": 0}
    assert response.headers["location"] == f"/api/labels/{label['id']}"
    assert client.get(response.headers["location"], headers=ann).json() == label
    contact = create_contact(client, ann, labels=["book CLUB"])
    assert contact["labels"] == ["Book club"]
    assert client.get(response.headers["location"], headers=ann).json()["contacts"] == 1


def test_a_label_name_taken_case_insensitively_is_409(client: TestClient, ann: Headers) -> None:
    client.post("/api/labels", headers=ann, json={"name": "Work"})
    response = client.post("/api/labels", headers=ann, json={"name": "wORK"})
    assert response.status_code == 409
    assert response.json() == {"detail": "You already have a label with this name"}
    other = client.post("/api/labels", headers=ann, json={"name": "Home"}).json()
    renamed = client.patch(f"/api/labels/{other['id']}", headers=ann, json={"name": "WORK"})
    assert renamed.status_code == 409
    assert labels(client, ann) == [("Home", 0), ("Work", 0)]


@pytest.mark.parametrize("name", ["", "  ", "a,b", "a;b", "x" * 51, "\x07", None, 5])
def test_an_invalid_label_name_is_422(client: TestClient, ann: Headers, name: Any) -> None:
    assert client.post("/api/labels", headers=ann, json={"name": name}).status_code == 422
    label = client.post("/api/labels", headers=ann, json={"name": "Work"}).json()
    patch = client.patch(f"/api/labels/{label['id']}", headers=ann, json={"name": name})
    assert patch.status_code == 422
    assert labels(client, ann) == [("Work", 0)]


def test_renaming_a_label_renames_it_on_every_contact(client: TestClient, ann: Headers) -> None:
    one = create_contact(client, ann, email="one@example.com", labels=["Work", "Home"])
    two = create_contact(client, ann, email="two@example.com", labels=["work"])
    work = label_id(client, ann, "Work")
    response = client.patch(f"/api/labels/{work}", headers=ann, json={"name": "Job"})
    assert response.status_code == 200
    assert response.json() == {"id": work, "name": "Job", "contacts": 2}
    assert client.get(f"/api/contacts/{one['id']}", headers=ann).json()["labels"] == ["Home", "Job"]
    assert client.get(f"/api/contacts/{two['id']}", headers=ann).json()["labels"] == ["Job"]
    assert search(client, ann, label="job") == ["Carol", "Carol"]
    assert search(client, ann, label="work") == []
    # A change of case only is a rename of the label to itself.
    recased = client.patch(f"/api/labels/{work}", headers=ann, json={"name": "JOB"})
    assert recased.json() == {"id": work, "name": "JOB", "contacts": 2}


def test_deleting_a_label_takes_it_off_every_contact_and_keeps_the_contacts(
    client: TestClient, ann: Headers
) -> None:
    one = create_contact(client, ann, email="one@example.com", labels=["Work", "Home"])
    work = label_id(client, ann, "Work")
    response = client.delete(f"/api/labels/{work}", headers=ann)
    assert response.status_code == 204
    assert client.get(f"/api/contacts/{one['id']}", headers=ann).json()["labels"] == ["Home"]
    assert labels(client, ann) == [("Home", 1)]
    assert client.delete(f"/api/labels/{work}", headers=ann).status_code == 404
    assert client.get(f"/api/labels/{work}", headers=ann).status_code == 404
    assert create_contact(client, ann, email="two@example.com", labels=["work"])["labels"] == [
        "work"
    ]


def test_another_users_label_is_404_on_every_route_and_never_appears(
    client: TestClient, ann: Headers, bob: Headers
) -> None:
    create_contact(client, bob, first_name="Bobs", labels=["Work"])
    bobs_label = label_id(client, bob, "Work")
    url = f"/api/labels/{bobs_label}"
    responses = [
        client.get(url, headers=ann),
        client.patch(url, headers=ann, json={"name": "Stolen"}),
        client.delete(url, headers=ann),
    ]
    assert [response.status_code for response in responses] == [404] * 3
    assert {response.json()["detail"] for response in responses} == {"Label not found"}
    assert labels(client, ann) == []
    # Ann's "work" is a label of her own; Bob's contacts never show up under it.
    mine = create_contact(client, ann, first_name="Anns", labels=["work"])
    assert mine["labels"] == ["work"]
    assert search(client, ann, label="Work") == ["Anns"]
    assert labels(client, bob) == [("Work", 1)]
    assert labels(client, ann) == [("work", 1)]


@pytest.mark.parametrize("label", ["0", "2147483648", "9" * 30, "abc"])
def test_label_ids_that_cannot_exist_are_404(client: TestClient, ann: Headers, label: str) -> None:
    assert client.get(f"/api/labels/{label}", headers=ann).status_code == 404
    assert client.patch(f"/api/labels/{label}", headers=ann, json={"name": "x"}).status_code == 404
    assert client.delete(f"/api/labels/{label}", headers=ann).status_code == 404


# --- Queries and concurrency ------------------------------------------------------------------


def test_a_page_of_20_labelled_contacts_takes_no_more_queries_than_one_contact(
    client: TestClient, ann: Headers, sql_statements: list[str]
) -> None:
    create_contact(client, ann, email="first@example.com", labels=["A", "B"])
    sql_statements.clear()
    assert len(search(client, ann)) == 1
    one = len(sql_statements)
    for n in range(24):
        create_contact(client, ann, email=f"c{n}@example.com", labels=[f"L{n}", "A", "B"])
    sql_statements.clear()
    page = client.get("/api/contacts", headers=ann).json()
    assert len(page["items"]) == 20
    assert all(len(item["labels"]) == 3 for item in page["items"][1:])
    twenty = len(sql_statements)
    # The session check and the page (its count and labels ride along in subqueries).
    assert twenty == one <= 2, sql_statements
    sql_statements.clear()
    birthdays = client.get("/api/contacts/birthdays?days=366", headers=ann).json()
    assert len(birthdays) == 25
    assert len(sql_statements) <= 2
    sql_statements.clear()
    client.get(f"/api/contacts/{page['items'][0]['id']}", headers=ann)
    assert len(sql_statements) == 1  # the session, the contact and its labels in one query


def test_concurrent_contacts_with_one_new_label_make_one_label(
    client: TestClient, ann: Headers
) -> None:
    for round_ in range(5):
        name = f"New {round_}"
        codes = race(
            client,
            [
                (
                    "POST",
                    "/api/contacts",
                    ann,
                    contact_data(email=f"{round_}.{n}@x.org", labels=[name]),
                )
                for n in range(4)
            ],
        )
        assert codes == [201] * 4
    assert labels(client, ann) == [(f"New {n}", 4) for n in range(5)]


def test_concurrent_label_rename_delete_and_contact_writes_never_fail_with_5xx(
    client: TestClient, ann: Headers
) -> None:
    for _ in range(5):
        contact = create_contact(client, ann, labels=["Work"])
        work = label_id(client, ann, "Work")
        url = f"/api/contacts/{contact['id']}"
        codes = race(
            client,
            [
                ("PATCH", f"/api/labels/{work}", ann, {"name": "Job"}),
                ("PATCH", url, ann, {"labels": ["Job", "Work"]}),
                ("DELETE", f"/api/labels/{work}", ann, None),
                ("PUT", url, ann, contact_data(labels=["work"])),
            ],
        )
        assert all(code < 500 for code in codes), codes
        final = client.get(url, headers=ann).json()
        assert set(final["labels"]) <= {name for name, _ in labels(client, ann)}
        client.delete(url, headers=ann)
        client.delete("/api/contacts/trash", headers=ann)
        for label in client.get("/api/labels", headers=ann).json():
            client.delete(f"/api/labels/{label['id']}", headers=ann)
