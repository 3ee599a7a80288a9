"""Steps that CardDAV tests share: an app password, the user's paths, PROPFIND and REPORT."""

import re
from base64 import b64encode
from typing import Any

import httpx2 as httpx
from defusedxml import ElementTree

DAV = "{DAV:}"
CARD = "{urn:ietf:params:xml:ns:carddav}"
CS = "{http://calendarserver.org/ns/}"


def app_password(client: httpx.Client, headers: dict[str, str], name: str = "phone") -> str:
    response = client.post("/api/users/me/app-passwords", headers=headers, json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["password"])


def basic_header(auth: tuple[str, str]) -> dict[str, str]:
    """HTTP Basic credentials as a header, for requests sent without the client's `auth`."""
    return {"Authorization": "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()}


def user_id(client: httpx.Client, headers: dict[str, str]) -> int:
    return int(client.get("/api/users/me", headers=headers).json()["id"])


def book(client: httpx.Client, headers: dict[str, str]) -> str:
    return f"/dav/addressbooks/{user_id(client, headers)}/contacts/"


def propfind(
    client: httpx.Client, path: str, auth: Any, body: str = "", depth: str = "0"
) -> httpx.Response:
    return client.request(
        "PROPFIND", path, auth=auth, headers={"Depth": depth}, content=body.encode()
    )


def report(client: httpx.Client, path: str, auth: Any, body: str) -> httpx.Response:
    return client.request("REPORT", path, auth=auth, content=body.encode())


def props_body(*names: str) -> str:
    """A PROPFIND body asking for `names` (prefixes d:, card:, cs:)."""
    inner = "".join(f"<{name}/>" for name in names)
    return (
        '<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" '
        f'xmlns:cs="http://calendarserver.org/ns/"><d:prop>{inner}</d:prop></d:propfind>'
    )


def multiget_body(hrefs: list[str], version: str | None = None) -> str:
    data = f'<card:address-data version="{version}"/>' if version else "<card:address-data/>"
    links = "".join(f"<d:href>{href}</d:href>" for href in hrefs)
    return (
        '<card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">'
        f"<d:prop><d:getetag/>{data}</d:prop>{links}</card:addressbook-multiget>"
    )


def responses(answer: httpx.Response) -> dict[str, dict[str, Any]]:
    """A multistatus as {href: {"status": code or None, "props": {name: element}, "missing":
    [names]}}."""
    assert answer.status_code == 207, answer.text
    root = ElementTree.fromstring(answer.content)
    found: dict[str, dict[str, Any]] = {}
    for item in root.findall(f"{DAV}response"):
        href = item.findtext(f"{DAV}href") or ""
        entry: dict[str, Any] = {"status": None, "props": {}, "missing": []}
        status = item.findtext(f"{DAV}status")
        if status:
            entry["status"] = int(status.split()[1])
        for propstat in item.findall(f"{DAV}propstat"):
            code = int((propstat.findtext(f"{DAV}status") or "").split()[1])
            for prop in propstat.find(f"{DAV}prop") or []:
                if code == 200:
                    entry["props"][prop.tag] = prop
                else:
                    entry["missing"].append(prop.tag)
        found[href] = entry
    return found


def card_hrefs(client: httpx.Client, path: str, auth: Any) -> dict[str, str]:
    """The cards of a book: {href: etag}."""
    answer = responses(propfind(client, path, auth, props_body("d:getetag"), depth="1"))
    return {
        href: entry["props"][f"{DAV}getetag"].text for href, entry in answer.items() if href != path
    }


def vcard(uid: str, name: str = "Bob Smith", *extra: str) -> str:
    given, family = name.split(" ", 1)
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{name}",
             f"N:{family};{given};;;", *extra, "END:VCARD"]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def unfolded(text: str) -> list[str]:
    return re.sub(r"\r\n[ \t]", "", text).strip().split("\r\n")
