"""Error types. Every message is one line that names the file and the problem."""


class VidcolorError(Exception):
    """Base class: the CLI prints str(error) on one line and exits non-zero."""

    exit_code = 1


class InputError(VidcolorError):
    """The input is missing, unreadable, or not what the command needs."""

    exit_code = 2


class OutputError(VidcolorError):
    """The output cannot be written (exists, unwritable, disk full)."""

    exit_code = 3


class ModelError(VidcolorError):
    """No usable weights, or an embedder's weights are missing."""

    exit_code = 4
