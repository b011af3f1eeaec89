import json
import logging
from collections.abc import Iterator

import pytest

from cienty_kit.context import RequestContext, enter_request, leave_request
from cienty_kit.logging import configure_logging, get_logger


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_json_lines_carry_the_request_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    log = get_logger("test")
    token = enter_request(RequestContext(rpc="/x.Y/Z", request_id="req-7", actor="staff:ana"))
    try:
        log.info("inside", sku="MED-1")
    finally:
        leave_request(token)
    log.info("outside")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    inside, outside = lines[-2], lines[-1]
    assert inside["event"] == "inside"
    assert (inside["rpc"], inside["request_id"], inside["actor"]) == (
        "/x.Y/Z",
        "req-7",
        "staff:ana",
    )
    assert inside["level"] == "info"
    assert "timestamp" in inside
    assert "request_id" not in outside
