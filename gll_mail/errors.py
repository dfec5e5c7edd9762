"""The root of every domain error. The CLI shows these as plain messages; the web as friendly pages."""


class GllMailError(Exception):
    """A problem the user can fix: bad input, unknown names, unsafe settings."""
