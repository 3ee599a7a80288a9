"""The answer of an import."""

from sqlmodel import Field, SQLModel


# A record of an imported file that was not created, because its email is in the book already.
class SkippedRecord(SQLModel):
    item: int = Field(description="The record's number in the file, counted from 1.")
    reason: str


# A record of an imported file that could not be read or broke a rule of ContactCreate.
class RefusedRecord(SQLModel):
    item: int = Field(description="The record's number in the file, counted from 1.")
    detail: str


# The import's answer: how many contacts were created, and what happened to the rest.
class ImportReport(SQLModel):
    created: int
    skipped: list[SkippedRecord]
    errors: list[RefusedRecord]
