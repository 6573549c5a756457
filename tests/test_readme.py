"""The README's examples run as written (they are what a newcomer copies first)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_shows_the_headers_inject_writes():
    from ddfast import Context
    from ddfast import HTTPPropagator

    ctx = Context(trace_id=0x6B06331600000000CFC2EF2D8C3C8F69, span_id=0x1234567890ABCDEF, sampling_priority=1)
    headers = {}
    HTTPPropagator.inject(ctx, headers)
    text = README.read_text(encoding="utf-8")
    for name, value in headers.items():
        assert "'%s': '%s'" % (name, value) in text
