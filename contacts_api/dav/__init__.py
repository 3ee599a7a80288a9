"""CardDAV (RFC 6352 on WebDAV, RFC 4918): a second door into the same book as the REST routes.

- `xml`: WebDAV's XML in (parsed for untrusted input) and out (multistatus); pure.
- `auth`: HTTP Basic with the account's email and an app password.
- `props`: the properties of each resource: the context path, principal, home, book, cards.
- `cards`: the queries that find cards and the writes of PUT and DELETE.
- `reports`: REPORT, one handler per report element.
- `routes`: the paths and methods; thin.
"""
