"""The wizard's page ids, in page order."""

from enum import IntEnum


class PageId(IntEnum):
    WELCOME = 0
    ROOT = 1
    COMPONENTS = 2
    OPTIONS = 3
    SUMMARY = 4
    PROGRESS = 5
    FINISH = 6
