"""WebDAV's XML: request bodies read as untrusted input, multistatus answers written out.

Pure functions, no database and no web framework. Names of elements are ElementTree's
"Clark" form, `{namespace}local`: `{DAV:}getetag`.
"""

import re
from collections.abc import Iterable
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from fastapi import status

from contacts_api.errors import AppError
from contacts_api.formats.vcard_write import Version

DAV = "DAV:"
CARD = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
PREFIXES = {DAV: "d", CARD: "card", CS: "cs"}
XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
NAMESPACES = " ".join(f'xmlns:{prefix}="{ns}"' for ns, prefix in PREFIXES.items())

# What a WebDAV request body may be. A multiget of 1,000 cards by href is about 100 kB; the
# app's own cap (MAX_BODY_BYTES, 1 MiB) applies before this one.
MAX_XML_BYTES = 512 * 1024
# PROPFIND and REPORT bodies are four or five levels deep; 32 leaves room for any client.
MAX_DEPTH = 32
# The properties one PROPFIND or REPORT may ask for (iOS asks for about 20).
MAX_PROPS = 100


def tag(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def bad_xml(problem: str) -> AppError:
    return AppError(status.HTTP_400_BAD_REQUEST, f"The XML body could not be read: {problem}")


def parse(body: bytes) -> Element | None:
    """The root element of a request body, or None for an empty one.

    defusedxml refuses a DTD of any kind (so no entity is ever declared: no "billion laughs",
    no quadratic blow-up, no external entity that would read a file or a URL), and the depth
    and size are bounded here: each is a 400 or 413, never a 500, a hang or a heap filled.
    """
    if not body.strip():
        return None
    if len(body) > MAX_XML_BYTES:
        raise AppError(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"The XML body is larger than {MAX_XML_BYTES} bytes",
        )
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise bad_xml("it declares a DTD or entities, which are not taken") from None
    except (ParseError, ValueError, LookupError) as exc:  # LookupError: an unknown encoding
        raise bad_xml(str(exc)) from None
    _check_depth(root)
    return root


def _check_depth(root: Element) -> None:
    # Iterative: a recursive walk of a deep document would itself overflow the stack.
    level: list[Element] = [root]
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            raise bad_xml(f"elements are nested more than {MAX_DEPTH} deep")
        level = [child for element in level for child in element]
        depth += 1


# --- Out ----------------------------------------------------------------------------------


def escape(text: str) -> str:
    # CR as a reference: a parser turns a literal CRLF into LF, and a vCard's lines end in CRLF.
    # The quote too, for attribute values (a namespace a client named).
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;").replace("\r", "&#13;")


def _name(clark: str, extra: dict[str, str]) -> str:
    """The qualified name of `{ns}local` in an answer: a known prefix, else one declared on
    the element itself (`extra` collects the declaration)."""
    if not clark.startswith("{"):
        # An element in no namespace (`<foo/>` in a body without a default namespace).
        extra["xmlns"] = ""
        return clark
    namespace, _, local = clark[1:].partition("}")
    if namespace == XML_NAMESPACE:
        return f"xml:{local}"  # bound to `xml` in every document, and to no other prefix
    prefix = PREFIXES.get(namespace)
    if prefix is None:
        prefix = "x"
        extra["xmlns:x"] = namespace
    return f"{prefix}:{local}"


def element(clark: str, inner: str = "") -> str:
    """`<prefix:local>inner</prefix:local>` (empty: `<prefix:local/>`); `inner` is XML."""
    extra: dict[str, str] = {}
    name = _name(clark, extra)
    attributes = "".join(f' {key}="{escape(value)}"' for key, value in extra.items())
    if not inner:
        return f"<{name}{attributes}/>"
    return f"<{name}{attributes}>{inner}</{name}>"


def text_element(clark: str, text: str) -> str:
    return element(clark, escape(text))


def href(path: str) -> str:
    return f"<d:href>{escape(path)}</d:href>"


STATUS_LINES = {
    200: "HTTP/1.1 200 OK",
    403: "HTTP/1.1 403 Forbidden",
    404: "HTTP/1.1 404 Not Found",
    507: "HTTP/1.1 507 Insufficient Storage",
}


def propstats(found: dict[str, str], missing: Iterable[str]) -> str:
    """The propstat elements of one resource: the properties it has (name -> XML value), then
    those it has not, 404 (RFC 4918 §9.1)."""
    parts = []
    if found:
        props = "".join(element(name, value) for name, value in found.items())
        parts.append(f"<d:propstat><d:prop>{props}</d:prop><d:status>{STATUS_LINES[200]}"
                     "</d:status></d:propstat>")  # fmt: skip
    missing = list(missing)
    if missing:
        props = "".join(element(name) for name in missing)
        parts.append(f"<d:propstat><d:prop>{props}</d:prop><d:status>{STATUS_LINES[404]}"
                     "</d:status></d:propstat>")  # fmt: skip
    return "".join(parts)


def response(path: str, inner: str) -> str:
    """One `<d:response>` of a multistatus: the href and its propstats (or a status)."""
    return f"<d:response>{href(path)}{inner}</d:response>"


def status_response(path: str, code: int) -> str:
    return response(path, f"<d:status>{STATUS_LINES[code]}</d:status>")


def multistatus(responses: Iterable[str], extra: str = "") -> bytes:
    body = "".join(responses)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<d:multistatus {NAMESPACES}>{body}{extra}'
        "</d:multistatus>"
    ).encode()


def error_body(condition: str) -> bytes:
    """The body of an error with a precondition (RFC 4918 §16): `<d:error><cond/></d:error>`."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<d:error {NAMESPACES}>{element(condition)}'
        "</d:error>"
    ).encode()


# A DAV:nresults or CARD:nresults value.
NRESULTS = re.compile(r"\s*[0-9]{1,9}\s*")


def address_data_version(root: Element) -> Version:
    """The vCard version a report's `<card:address-data version="4.0"/>` asks for; 3.0 else."""
    data = root.find(f"{tag(DAV, 'prop')}/{tag(CARD, 'address-data')}")
    return "4.0" if data is not None and data.get("version") == "4.0" else "3.0"


def requested_props(root: Element | None) -> list[str] | None:
    """The names a PROPFIND's `<prop>` (or a REPORT's) asks for; None for `allprop`, an empty
    body, or `propname` (answered like allprop: every property with its value)."""
    if root is None:
        return None
    prop = root.find(tag(DAV, "prop"))
    if prop is None:
        return None
    # Each name once, and not too many: a body of 40,000 <getetag/> made an answer of 11 MB
    # for 10 cards. No client asks for more than a few dozen.
    names = list(dict.fromkeys(child.tag for child in prop if isinstance(child.tag, str)))
    if len(names) > MAX_PROPS:
        raise bad_xml(f"it asks for more than {MAX_PROPS} properties")
    return names
