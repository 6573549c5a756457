"""ddfast's loggers, made when first used: ``import ddfast`` does not import ``logging`` (and the
``traceback``, ``string``, ``re`` and ``weakref`` it imports). A module's ``log = LazyLogger(name)`` is
used as the ``logging.getLogger(name)`` it stands for; ``logging`` is imported at the first message."""


class LazyLogger:
    """``logging.getLogger(name)``, got at the first attribute asked of it (``log.warning``,
    ``log.isEnabledFor``...). The methods it hands out are the logger's own, so a record names the
    caller's file, function and line, as from the logger itself."""

    __slots__ = ("name", "_logger")

    def __init__(self, name):
        self.name = name
        self._logger = None

    def __getattr__(self, attr):
        logger = self._logger
        if logger is None:
            import logging

            logger = self._logger = logging.getLogger(self.name)
        return getattr(logger, attr)

    def __repr__(self):
        return "<LazyLogger %r>" % self.name
