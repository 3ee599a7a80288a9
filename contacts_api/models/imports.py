"""The answer of an import."""

from sqlmodel import Field, SQLModel


# A record of an imported file that was not created: the book (or the file) has it already.
class SkippedRecord(SQLModel):
    item: int = Field(description="The record's number in the file, counted from 1.")
    reason: str


# A record of an imported file that makes no contact: it has no name, or cannot be read.
class RefusedRecord(SQLModel):
    item: int = Field(description="The record's number in the file, counted from 1.")
    detail: str


# A value of a record that was left out of its contact (the contact was created without it).
class ImportWarning(SQLModel):
    item: int = Field(description="The record's number in the file, counted from 1.")
    detail: str = Field(description="The value, and what is wrong with it.")


# The import's answer: how many contacts were created, and what happened to the rest.
class ImportReport(SQLModel):
    created: int
    skipped: list[SkippedRecord]
    errors: list[RefusedRecord]
    warnings: list[ImportWarning]
