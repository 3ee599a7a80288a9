"""Hostile XML is harmless: entity expansion, external entities, deep nesting and huge bodies
are each a 4xx, quickly, with no file read and no memory growth; and the parser alone."""

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contacts_api.dav.xml import MAX_DEPTH, parse
from contacts_api.errors import AppError
from tests.davhelp import app_password, book

Headers = dict[str, str]

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&lol9;</d:displayname></d:prop></d:propfind>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&secret;</d:displayname></d:prop></d:propfind>"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">
<d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>"""


def deep(levels: int) -> str:
    return '<d:propfind xmlns:d="DAV:">' + "<d:a>" * levels + "</d:a>" * levels + "</d:propfind>"


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, deep(MAX_DEPTH), deep(40_000),
     "<d:propfind", "not xml at all", '<a xmlns:d="DAV:"><d:b></a>'],
    ids=["billion-laughs", "external-entity", "external-dtd", "too-deep", "very-deep",
         "unclosed", "text", "mismatched"],
)  # fmt: skip
def test_the_parser_refuses_hostile_or_broken_xml(body: str) -> None:
    started = time.monotonic()
    with pytest.raises(AppError) as refused:
        parse(body.encode())
    assert refused.value.status_code == 400
    assert str(refused.value.detail).startswith("The XML body could not be read: ")
    assert time.monotonic() - started < 1


def test_the_parser_takes_what_clients_send() -> None:
    assert parse(b"") is None and parse(b" \r\n") is None
    root = parse(deep(MAX_DEPTH - 2).encode())
    assert root is not None and root.tag == "{DAV:}propfind"


def test_a_huge_body_is_refused_before_parsing() -> None:
    with pytest.raises(AppError) as refused:
        parse(b"<a>" + b" " * (600 * 1024) + b"</a>")
    assert refused.value.status_code == 413


def dav_auth(client: TestClient, headers: Headers) -> Any:
    return ("ann@example.com", app_password(client, headers))


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, deep(10_000)],
                         ids=["billion-laughs", "external-entity", "deep"])  # fmt: skip
def test_hostile_bodies_are_400_over_http(client: TestClient, ann: Headers, body: str) -> None:
    auth = dav_auth(client, ann)
    for method in ("PROPFIND", "REPORT"):
        answer = client.request(method, book(client, ann), auth=auth, content=body.encode())
        assert answer.status_code == 400, answer.text
        assert "root:" not in answer.text
        assert answer.json()["detail"].startswith("The XML body could not be read: ")


def test_huge_bodies_are_413_over_http(client: TestClient, ann: Headers) -> None:
    auth = dav_auth(client, ann)
    path = book(client, ann)
    for size in (600 * 1024, 3 * 1024 * 1024):
        body = b'<d:propfind xmlns:d="DAV:">' + b" " * size + b"</d:propfind>"
        answer = client.request("PROPFIND", path, auth=auth, content=body)
        assert answer.status_code == 413, size


def test_a_report_of_the_wrong_kind_or_no_body_is_a_4xx(client: TestClient, ann: Headers) -> None:
    auth = dav_auth(client, ann)
    path = book(client, ann)
    assert client.request("REPORT", path, auth=auth).status_code == 400
    wrong = client.request("PROPFIND", path, auth=auth, content=b'<x xmlns="urn:x"/>')
    assert wrong.status_code == 400
    unknown = client.request("REPORT", path, auth=auth, content=b'<x xmlns="urn:x"/>')
    assert unknown.status_code == 403
