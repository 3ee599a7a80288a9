"""CardDAV with real clients over a served app: vdirsyncer (with khard reading its folder) syncs
both ways and resolves conflicts as its config says; webdav4, a WebDAV library, lists, reads,
writes and deletes cards as files; and the requests DAVx5 and Thunderbird make that vdirsyncer
does not (getctag, a listing, multigets in batches)."""

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from webdav4.client import Client as WebDavClient

from tests.davhelp import CS, card_hrefs, multiget_body, propfind, props_body, report, responses
from tests.helpers import bearer, log_in, sign_up
from tests.served import served_app

BIN = Path(sys.executable).parent
EMAIL = "ann@example.com"


@pytest.fixture(scope="module")
def server() -> Iterator[httpx.Client]:
    # One server for the module (it reads the test database); each test's `client` empties it.
    with served_app({"DATABASE_URL": os.environ["DATABASE_URL"]}) as served:
        yield served


@pytest.fixture
def ann(client: TestClient, server: httpx.Client) -> dict[str, Any]:
    sign_up(server, EMAIL)
    headers = bearer(log_in(server, EMAIL))
    made = server.post("/api/users/me/app-passwords", headers=headers, json={"name": "desk"})
    return {"headers": headers, "password": made.json()["password"]}


def rest_names(server: httpx.Client, ann: dict[str, Any]) -> list[str]:
    page = server.get("/api/contacts", headers=ann["headers"]).json()
    return [f"{c['first_name']} {c['last_name']}" for c in page["items"]]


def add(server: httpx.Client, ann: dict[str, Any], first: str, last: str) -> dict[str, Any]:
    made = server.post(
        "/api/contacts", headers=ann["headers"], json={"first_name": first, "last_name": last}
    )
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


class Vdirsyncer:
    """vdirsyncer with a config of its own in `folder`, syncing the served book."""

    def __init__(self, folder: Path, url: str, password: str, resolution: str) -> None:
        self.folder = folder
        self.config = folder / "config"
        self.config.write_text(
            f"""[general]
status_path = "{folder / "status"}/"

[pair book]
a = "local"
b = "remote"
collections = ["from b"]
conflict_resolution = "{resolution}"

[storage local]
type = "filesystem"
path = "{folder / "cards"}/"
fileext = ".vcf"

[storage remote]
type = "carddav"
url = "{url}/"
username = "{EMAIL}"
password = "{password}"
"""
        )

    @property
    def book(self) -> Path:
        return self.folder / "cards" / "contacts"

    def run(self, *arguments: str) -> str:
        done = subprocess.run(
            [str(BIN / "vdirsyncer"), "-c", str(self.config), *arguments],
            input="y\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def cards(self) -> dict[str, str]:
        """The folder's cards: {file name: FN}."""
        found = {}
        for path in sorted(self.book.glob("*.vcf")):
            lines = path.read_text().splitlines()
            found[path.name] = next(line[3:] for line in lines if line.startswith("FN:"))
        return found

    def file_of(self, full_name: str) -> Path:
        [name] = [name for name, fn in self.cards().items() if fn == full_name]
        return self.book / name


def khard_names(folder: Path) -> list[str]:
    """The names khard (an address book program) lists from vdirsyncer's folder."""
    config = folder / "khard.conf"
    config.write_text(
        f"[addressbooks]\n[[book]]\npath = {folder / 'cards' / 'contacts'}\n"
        "[general]\neditor = true\nmerge_editor = true\n"
    )
    done = subprocess.run(
        [str(BIN / "khard"), "-c", str(config), "list", "--parsable"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return sorted(line.split("\t")[1] for line in done.stdout.splitlines() if line.strip())


def vcard(uid: str, first: str, last: str) -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{first} {last}\r\n"
            f"N:{last};{first};;;\r\nEND:VCARD\r\n")  # fmt: skip


def rename(path: Path, first: str, last: str) -> None:
    lines = [
        f"FN:{first} {last}" if line.startswith("FN:")
        else f"N:{last};{first};;;" if line.startswith("N:")
        else line
        for line in path.read_text().splitlines()
    ]  # fmt: skip
    path.write_text("\r\n".join(lines) + "\r\n")


def test_vdirsyncer_discovers_the_book_and_syncs_changes_both_ways(
    server: httpx.Client, ann: dict[str, Any], tmp_path: Path
) -> None:
    carol = add(server, ann, "Carol", "Jones")
    bob = add(server, ann, "Bob", "Brown")
    sync = Vdirsyncer(tmp_path, str(server.base_url), ann["password"], "b wins")
    assert '"contacts" ("Contacts")' in sync.run("discover")
    sync.run("sync")
    assert sorted(sync.cards().values()) == ["Bob Brown", "Carol Jones"]
    assert khard_names(tmp_path) == ["Bob Brown", "Carol Jones"]

    # Made, edited and deleted in the local folder: in the book after one sync.
    (sync.book / "dan.vcf").write_text(vcard("dan-uid", "Dan", "Local"))
    rename(sync.file_of("Carol Jones"), "Caroline", "Jones")
    sync.file_of("Bob Brown").unlink()
    sync.run("sync")
    assert rest_names(server, ann) == ["Caroline Jones", "Dan Local"]
    trash = server.get("/api/contacts/trash", headers=ann["headers"]).json()["items"]
    assert [c["id"] for c in trash] == [bob["id"]]

    # Made, edited and deleted through REST: in the folder after one sync.
    add(server, ann, "Eve", "Adams")
    [dan] = [c for c in server.get("/api/contacts", headers=ann["headers"]).json()["items"]
             if c["first_name"] == "Dan"]  # fmt: skip
    server.patch(
        f"/api/contacts/{dan['id']}", headers=ann["headers"], json={"first_name": "Daniel"}
    )
    server.delete(f"/api/contacts/{carol['id']}", headers=ann["headers"])
    sync.run("sync")
    assert sorted(sync.cards().values()) == ["Daniel Local", "Eve Adams"]
    assert khard_names(tmp_path) == ["Daniel Local", "Eve Adams"]
    # Nothing left to do: a sync after a sync changes nothing on either side.
    output = sync.run("sync")
    assert "Copying" not in output and "Deleting" not in output, output


@pytest.mark.parametrize(("resolution", "winner"), [("a wins", "Local"), ("b wins", "Remote")])
def test_a_conflict_is_resolved_as_vdirsyncers_config_says(
    server: httpx.Client, ann: dict[str, Any], tmp_path: Path, resolution: str, winner: str
) -> None:
    carol = add(server, ann, "Carol", "Jones")
    sync = Vdirsyncer(tmp_path, str(server.base_url), ann["password"], resolution)
    sync.run("discover")
    sync.run("sync")
    rename(sync.file_of("Carol Jones"), "Carol", "Local")
    server.patch(
        f"/api/contacts/{carol['id']}", headers=ann["headers"], json={"last_name": "Remote"}
    )
    sync.run("sync")
    assert list(sync.cards().values()) == [f"Carol {winner}"]
    assert rest_names(server, ann) == [f"Carol {winner}"]


def test_a_webdav_library_sees_the_book_as_a_folder_of_cards(
    server: httpx.Client, ann: dict[str, Any]
) -> None:
    # webdav4 lists with an allprop PROPFIND (no body) and parses the answer with its own
    # reader: names, types, lengths, dates and ETags as a file manager would show them.
    made = add(server, ann, "Ann", "Lee")
    me = server.get("/api/users/me", headers=ann["headers"]).json()["id"]
    home = f"{server.base_url}/dav/addressbooks/{me}/"
    dav = WebDavClient(home, auth=(EMAIL, ann["password"]))
    with dav.http:  # its connections closed at the end
        assert dav.isdir("contacts")
        [listed] = dav.ls("contacts", detail=True)
        rest = server.get(f"/api/contacts/{made['id']}", headers=ann["headers"])
        card = dav.http.get(f"{home}{listed['name']}").content
        assert (listed["type"], listed["etag"]) == ("file", rest.headers["etag"])
        assert listed["content_length"] == len(card)
        assert listed["content_type"] == "text/vcard; charset=utf-8"
        assert listed["modified"] is not None

        sent = vcard("webdav4-uid", "Web", "Dav").encode()
        dav.upload_fileobj(io.BytesIO(sent), "contacts/webdav4.vcf")
        assert rest_names(server, ann) == ["Web Dav", "Ann Lee"]  # by last name
        fetched = io.BytesIO()
        dav.download_fileobj("contacts/webdav4.vcf", fetched)
        assert sorted(fetched.getvalue().split(b"\r\n")) == sorted(sent.split(b"\r\n"))
        assert dav.info("contacts/webdav4.vcf")["content_length"] == len(sent)

        dav.remove("contacts/webdav4.vcf")
        assert not dav.exists("contacts/webdav4.vcf")
        assert rest_names(server, ann) == ["Ann Lee"]
        trash = server.get("/api/contacts/trash", headers=ann["headers"]).json()["items"]
        assert [(c["first_name"], c["last_name"]) for c in trash] == [("Web", "Dav")]


# --- What DAVx5 and Thunderbird ask ---------------------------------------------------------------


def test_a_listing_then_multigets_in_batches_fetch_every_card_once(
    server: httpx.Client, ann: dict[str, Any]
) -> None:
    cards = "".join(vcard(f"uid-{n}", f"Person{n}", "Batch") for n in range(250))
    imported = server.post(
        "/api/contacts/import", headers=ann["headers"], files={"file": ("book.vcf", cards)}
    )
    assert imported.json()["created"] == 250
    auth = (EMAIL, ann["password"])
    me = server.get("/api/users/me", headers=ann["headers"]).json()["id"]
    book = f"/dav/addressbooks/{me}/contacts/"

    def ctag() -> str:
        found = responses(propfind(server, book, auth, props_body("cs:getctag")))
        return str(found[book]["props"][f"{CS}getctag"].text)

    first_tag = ctag()
    listing = card_hrefs(server, book, auth)
    assert len(listing) == 250
    hrefs = sorted(listing)
    for batch in (10, 100):  # DAVx5 asks for 10 at a time, Thunderbird for more
        fetched: dict[str, str] = {}
        for start in range(0, len(hrefs), batch):
            answer = responses(
                report(server, book, auth, multiget_body(hrefs[start : start + batch]))
            )
            for href, entry in answer.items():
                assert href not in fetched
                fetched[href] = entry["props"]["{DAV:}getetag"].text
                assert (
                    "END:VCARD"
                    in entry["props"]["{urn:ietf:params:xml:ns:carddav}address-data"].text
                )
        assert fetched == listing
    # Nothing changed: the same ctag, so a client stops here; one change, a new one.
    assert ctag() == first_tag
    add(server, ann, "New", "Person")
    assert ctag() != first_tag
