"""The one exception the provider side stops a run with, apart from what raises it (sending.py) so that
a driver can name it without importing the provider side (a run of local steps never does)."""


class ProviderStop(Exception):
    """A provider problem no retry fixes now (a key, a model name, the budget): stop; the run stays resumable."""
