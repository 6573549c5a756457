"""Why an encoder refused a trace; shared by both encoder twins so callers catch one class."""


class BufferFull(Exception):
    """The payload would exceed the encoder's ``max_size``: send what is buffered first."""


class BufferItemTooLarge(Exception):
    """One trace alone exceeds the encoder's ``max_item_size``: it can never be sent."""
