"""The one base of the problems a user can fix: a bad config, card, show,
document, voice, rig or file, a missing model. Each message names the file,
the field or the reason; the command line prints it and exits with 2."""


class FiresideError(Exception):
    """A problem the user can fix, said in one line."""
