"""Replacing a library's method by a traced one, reversibly: the original is kept on the wrapper."""

ORIGINAL = "__ddfast_original__"


def wrap(owner, name, make_wrapper):
    """Replace ``owner.name`` by ``make_wrapper(original)``; once only. True when it was patched now."""
    current = getattr(owner, name)
    if getattr(current, ORIGINAL, None) is not None:
        return False
    wrapper = make_wrapper(current)
    setattr(wrapper, ORIGINAL, current)
    wrapper.__name__ = getattr(current, "__name__", name)
    wrapper.__doc__ = getattr(current, "__doc__", None)
    setattr(owner, name, wrapper)
    return True


def unwrap(owner, name):
    """Put the original ``owner.name`` back, if it was wrapped."""
    original = getattr(getattr(owner, name), ORIGINAL, None)
    if original is not None:
        setattr(owner, name, original)


def is_wrapped(owner, name):
    return getattr(getattr(owner, name), ORIGINAL, None) is not None
