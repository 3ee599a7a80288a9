"""What search looks into: texts that the database derives from a contact's lists, so that
a row written by plain SQL is found like one written here.

On PostgreSQL they are the expressions of trigram indexes (migration 0007), written here exactly
as there: the planner uses an index only for the same expression, with the same constants.
SQLite has no such index and computes them as it scans.
"""

from typing import Any

from sqlalchemy import FunctionElement, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler


class emails_text(FunctionElement[str]):
    """The addresses of a contact's `emails` in one text."""

    type = String()
    inherit_cache = True


@compiles(emails_text, "postgresql")
def _emails_text_postgresql(element: emails_text, compiler: SQLCompiler, **kw: Any) -> str:
    emails = compiler.process(element.clauses, **kw)
    return f"(jsonb_path_query_array({emails}::jsonb, '$[*].address')::text)"


@compiles(emails_text)
def _emails_text(element: emails_text, compiler: SQLCompiler, **kw: Any) -> str:
    emails = compiler.process(element.clauses, **kw)
    addresses = "group_concat(json_extract(value, '$.address'), ' ')"
    return f"(SELECT {addresses} FROM json_each({emails}))"  # noqa: S608  (no values: SQL)


class phone_digits(FunctionElement[str]):
    """The digits of each number of a contact's `phones`, extensions left out, the numbers
    apart by commas (`15550100199,442079460958`), so that no match spans two numbers."""

    type = String()
    inherit_cache = True


@compiles(phone_digits, "postgresql")
def _phone_digits_postgresql(element: phone_digits, compiler: SQLCompiler, **kw: Any) -> str:
    phones = compiler.process(element.clauses, **kw)
    numbers = f"jsonb_path_query_array({phones}::jsonb, '$[*].number')::text"
    # An extension runs from its "x", "ext" or ";" to the end of its number (the closing
    # quote); every other character but the digits and the commas between numbers goes.
    return f"(regexp_replace({numbers}, '(x|ext|;)[^\"]*|[^0-9,]', '', 'gi'))"


@compiles(phone_digits)
def _phone_digits(element: phone_digits, compiler: SQLCompiler, **kw: Any) -> str:
    phones = compiler.process(element.clauses, **kw)
    # SQLite has no regular expressions: the number is cut at its extension, then each
    # separator a number may hold is replaced by nothing.
    number = "lower(json_extract(value, '$.number'))"
    for mark in (";", "x", "e"):
        number = f"substr({number}, 1, instr({number} || '{mark}', '{mark}') - 1)"
    for separator in " -.()/+*#":
        number = f"replace({number}, '{separator}', '')"
    return f"(SELECT group_concat({number}, ',') FROM json_each({phones}))"  # noqa: S608
